/** Shell examples for a token on this platform (origin: `location.origin`). */
export function tokenExamples(origin: string, token = '$TOKEN'): { curl: string; cli: string; python: string } {
  const base = `${origin}/skaha/v0`;
  const quoted = token.startsWith('$') ? `"${token}"` : token;
  return {
    curl: [
      `curl -H "Authorization: Bearer ${token}" ${base}/session`,
      `curl -H "Authorization: Bearer ${token}" ${base}/session \\`,
      `     -d name=web1 -d type=contributed -d image=images.canfar.net/skaha/webapp:1.0`,
    ].join('\n'),
    cli: [
      `npx skaha login ${origin} --token ${quoted}`,
      'npx skaha ps',
      'npx skaha create notebook images.canfar.net/skaha/notebook:latest --wait --open',
    ].join('\n'),
    python: [
      'pip install skaha',
      `${token.startsWith('$') ? '' : `TOKEN=${token} `}python3 -c 'import os; from skaha.session import Session; print(Session(server="${origin}/skaha", token=os.environ["TOKEN"]).fetch())'`,
    ].join('\n'),
  };
}

/** "read, launch"; "none" for no scope. */
export function scopesText(scopes: string[]): string {
  return scopes.length ? scopes.join(', ') : 'none';
}
