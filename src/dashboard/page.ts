// The dashboard's HTML: a static shell with no data in it (the app fills it in after the admin
// token is accepted), so the page itself can be served without authentication.

export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>federa dashboard</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<header class="top">
  <div class="brand">federa <span>dashboard</span></div>
  <div class="run" id="run-title"></div>
  <div class="conn" id="conn" data-state="idle"><span class="dot"></span><span id="conn-text">not connected</span></div>
  <button type="button" id="logout" class="link" hidden>forget token</button>
</header>
<main>
  <section id="login" class="card login" hidden>
    <h1>Admin token</h1>
    <p id="login-message">This dashboard shows the server's runs and clients to its administrators.</p>
    <form id="login-form" autocomplete="off">
      <input id="token" type="password" name="token" placeholder="admin token" autocomplete="off" spellcheck="false" required>
      <button type="submit">Open</button>
    </form>
    <p class="hint">The token stays in this tab (session storage) and goes to the server only in an <code>Authorization</code> header. You may also open <code>/#token=…</code>: the part after <code>#</code> is never sent to the server.</p>
  </section>
  <div id="app" hidden>
    <section class="stats" id="stats"></section>
    <section class="charts" id="charts"></section>
    <section class="card wide">
      <h2>Rounds</h2>
      <div class="table-wrap"><table id="rounds">
        <thead><tr><th class="num">Round</th><th>Status</th><th class="num">Selected</th><th class="num">Reported</th><th class="num">Failed</th><th class="num">Dropped</th><th class="num" id="quality-heading">Accuracy</th><th class="num">Loss</th><th class="num">↓ down</th><th class="num">↑ up</th><th class="num">ε spent</th><th class="num">Time</th></tr></thead>
        <tbody></tbody>
      </table></div>
    </section>
    <div class="cols">
      <section class="card">
        <h2>Clients <small id="clients-summary"></small></h2>
        <div class="table-wrap"><table id="clients">
          <thead><tr><th>Client</th><th>Status</th><th>Last seen</th><th class="num">Rounds</th><th class="num">Failures</th><th class="num">Rejected frames</th></tr></thead>
          <tbody></tbody>
        </table></div>
      </section>
      <section class="card">
        <h2>Events</h2>
        <ol id="events" class="events"></ol>
      </section>
    </div>
    <section class="card wide">
      <h2>Runs</h2>
      <div class="table-wrap"><table id="runs">
        <thead><tr><th>Run</th><th>Status</th><th class="num">Rounds</th><th>Created</th><th>Updated</th></tr></thead>
        <tbody></tbody>
      </table></div>
    </section>
  </div>
</main>
</body>
</html>
`;
}
