import { useEffect, useState } from 'react';
import { Logo } from '../components/Layout';

/**
 * Shown when GET /auth/session is 401. A real HTML form to the server's POST /login, which
 * sets the HttpOnly login cookie and sends the browser back to `next` (this page's path): no
 * script ever holds the password. A wrong password lands on the server's own login page, which
 * says so and posts to the same place.
 */
export function LoginPage() {
  const next = window.location.pathname + window.location.search;
  const [withToken, setWithToken] = useState(false);
  useEffect(() => {
    document.title = 'Log in · skaha';
  }, []);
  return (
    <main id="main" className="login">
      <div className="login-card">
        <div className="login-brand">
          <Logo />
          <span>skaha</span>
        </div>
        <h1>Log in</h1>
        <p className="muted">Launch notebooks, desktops, CARTA, web apps and batch jobs that run as you, with your home directory.</p>
        <form method="post" action="/login" className="form">
          <input type="hidden" name="next" value={next} />
          {withToken ? (
            <div className="field">
              <label htmlFor="login-token">API token</label>
              <input id="login-token" name="token" type="password" autoComplete="off" required autoFocus spellCheck={false} />
              <p className="hint">
                A token from your account page or from <code>skaha admin token create</code>.
              </p>
            </div>
          ) : (
            <>
              <div className="field">
                <label htmlFor="login-username">Username</label>
                <input id="login-username" name="username" autoComplete="username" required autoFocus autoCapitalize="none" spellCheck={false} />
              </div>
              <div className="field">
                <label htmlFor="login-password">Password</label>
                <input id="login-password" name="password" type="password" autoComplete="current-password" required />
              </div>
            </>
          )}
          <button type="submit" className="button button--primary button--wide">
            Log in
          </button>
        </form>
        <div className="login-alternatives">
          <button type="button" className="button button--link" onClick={() => setWithToken((t) => !t)} aria-pressed={withToken}>
            {withToken ? 'Log in with a username and password' : 'Log in with an API token instead'}
          </button>
          <a href={`/login?next=${encodeURIComponent(next)}`}>Other ways to log in</a>
        </div>
      </div>
    </main>
  );
}
