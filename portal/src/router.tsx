import { createContext, useCallback, useContext, useEffect, useMemo, useState, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';

/**
 * The portal's few routes on the History API. The server answers any other GET for HTML with
 * index.html (src/server/app.ts), so a reload or a bookmark of /launch works.
 */
export const ROUTES = {
  sessions: '/',
  launch: '/launch',
  account: '/account',
  storage: '/storage',
  admin: '/admin',
} as const;

interface Router {
  path: string;
  search: string;
  /** How many in-app navigations happened: pages move focus to their heading after one. */
  navigations: number;
  navigate(to: string, opts?: { replace?: boolean }): void;
}

const RouterContext = createContext<Router>({ path: '/', search: '', navigations: 0, navigate: () => {} });

export function RouterProvider({ children }: { children: ReactNode }) {
  const [where, setWhere] = useState(() => ({ path: window.location.pathname, search: window.location.search, navigations: 0 }));

  useEffect(() => {
    const onPop = () => setWhere((w) => ({ path: window.location.pathname, search: window.location.search, navigations: w.navigations + 1 }));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((to: string, opts: { replace?: boolean } = {}) => {
    const url = new URL(to, window.location.href);
    if (opts.replace) window.history.replaceState(null, '', url);
    else window.history.pushState(null, '', url);
    setWhere((w) => ({ path: url.pathname, search: url.search, navigations: w.navigations + 1 }));
  }, []);

  const value = useMemo(() => ({ ...where, navigate }), [where, navigate]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export const useRouter = () => useContext(RouterContext);

/** An ordinary link (open in a new tab works) that navigates in place on a plain click. */
export function Link({ to, children, onClick, ...rest }: { to: string; children: ReactNode } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'>) {
  const { navigate, path } = useRouter();
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={handle} aria-current={path === to ? 'page' : undefined} {...rest}>
      {children}
    </a>
  );
}
