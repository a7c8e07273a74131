import { PageHeader } from '../components/ui';
import { Link, ROUTES } from '../router';

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <p>
        There is nothing at <code>{window.location.pathname}</code>. Go to <Link to={ROUTES.sessions}>your sessions</Link>.
      </p>
    </>
  );
}
