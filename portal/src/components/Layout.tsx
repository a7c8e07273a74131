import type { ReactNode } from 'react';
import type { Me } from '../api';
import { Link, ROUTES } from '../router';

export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="7" fill="#f2c14e" />
      <circle cx="16" cy="16" r="6" fill="#1d3f73" />
      <ellipse cx="16" cy="16" rx="13" ry="4.5" fill="none" stroke="#1d3f73" strokeWidth="2" transform="rotate(-25 16 16)" />
    </svg>
  );
}

export function Layout({ me, children }: { me: Me; children: ReactNode }) {
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <Link to={ROUTES.sessions} className="brand">
            <Logo />
            <span>skaha</span>
          </Link>
          <nav aria-label="Main">
            <ul className="nav">
              <li>
                <Link to={ROUTES.sessions}>Sessions</Link>
              </li>
              <li>
                <Link to={ROUTES.launch}>Launch</Link>
              </li>
              <li>
                <Link to={ROUTES.storage}>Storage</Link>
              </li>
              <li>
                <Link to={ROUTES.account}>Account</Link>
              </li>
              {me.admin ? (
                <li>
                  <Link to={ROUTES.admin}>Admin</Link>
                </li>
              ) : null}
            </ul>
          </nav>
          <div className="user">
            <span className="user-name" title={`uid ${me.uid}`}>
              <span className="visually-hidden">Logged in as </span>
              {me.username}
            </span>
            <form method="post" action="/logout">
              <button type="submit" className="button button--on-dark button--small">
                Log out
              </button>
            </form>
          </div>
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
      <footer className="footer">
        <p>
          skaha science platform · API at <code>/skaha/v0</code> and <code>/skaha/v1</code> · <a href="/skaha/openapi.json">OpenAPI</a>
        </p>
      </footer>
    </div>
  );
}
