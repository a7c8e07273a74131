/** Small self-contained HTML pages the proxy answers browsers with (no external assets). */

function escape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string, head = ''): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>${head}
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}.muted{color:#57606a}progress{width:100%}</style></head>
<body><main>${body}</main></body></html>`;
}

/**
 * Shown while a session starts: it polls the same URL and moves on by itself once the session
 * answers (the proxy stops sending this page then).
 */
export function waitingPage(sessionName: string, status: string, detail: string): string {
  return page(
    `Starting ${sessionName}`,
    `<h1>Starting your session “${escape(sessionName)}”</h1>
<p>Status: <strong id="status">${escape(status)}</strong></p>
<progress aria-label="starting"></progress>
<p id="detail">${escape(detail)}</p>
<p class="muted">This page reloads by itself when the session answers.</p>
<script>
var t0=Date.now();
(function poll(){setTimeout(function(){fetch(location.href,{method:'HEAD',credentials:'same-origin',cache:'no-store'})
.then(function(r){if(r.headers.get('x-skaha-waiting')!=='1'){location.reload();return;}
var d=r.headers.get('x-skaha-detail');if(d){document.getElementById('detail').textContent=decodeURIComponent(d);}poll();},poll);},Date.now()-t0<30000?250:1000);})();
</script>`,
  );
}

export function errorPage(status: number, title: string, detail: string): string {
  return page(`${status} ${title}`, `<h1>${escape(title)}</h1><p>${escape(detail)}</p><p class="muted">HTTP ${status}</p>`);
}
