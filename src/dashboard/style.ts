// The dashboard's stylesheet (served at /dashboard/app.css after uPlot's own).
export const DASHBOARD_CSS = `
:root { color-scheme: light; --fg: #1f2933; --muted: #64748b; --line: #e2e8f0; --bg: #f5f7fa; --card: #fff;
  --ok: #15803d; --ok-bg: #dcfce7; --warn: #92400e; --warn-bg: #fef3c7; --bad: #b91c1c; --bad-bg: #fee2e2; --accent: #2563eb; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
code { font-size: 12px; background: #eef2f7; padding: 1px 4px; border-radius: 4px; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 24px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 10; }
.brand { font-weight: 700; font-size: 16px; letter-spacing: 0.2px; }
.brand span { font-weight: 400; color: var(--muted); }
.run { flex: 1; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.run b { color: var(--fg); }
.conn { display: flex; align-items: center; gap: 6px; color: var(--muted); font-size: 13px; }
.conn .dot { width: 9px; height: 9px; border-radius: 50%; background: #cbd5e1; }
.conn[data-state="live"] .dot { background: #22c55e; box-shadow: 0 0 0 3px #dcfce7; }
.conn[data-state="connecting"] .dot { background: #f59e0b; }
.conn[data-state="refused"] .dot, .conn[data-state="error"] .dot { background: #ef4444; }
button { font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; padding: 6px 14px; }
button.link { background: none; border: none; color: var(--muted); padding: 0; text-decoration: underline; font-size: 13px; }
main { max-width: 1400px; margin: 0 auto; padding: 18px 24px 40px; }
@media (max-width: 600px) { main { padding: 12px 10px 32px; } .top { padding: 8px 10px; gap: 8px; flex-wrap: wrap; } }
.card, .stat, .federa-chart { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.card { padding: 12px 14px; min-width: 0; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 15px; margin: 0 0 8px; }
h2 small { font-weight: 400; color: var(--muted); margin-left: 6px; }
.login { max-width: 460px; margin: 60px auto; padding: 22px; }
.login form { display: flex; gap: 8px; margin: 12px 0; }
.login input { flex: 1; font: inherit; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; }
.login .hint { color: var(--muted); font-size: 12px; }
.login.refused { border-color: #fca5a5; }
.login.refused #login-message { color: var(--bad); font-weight: 600; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(160px, 100%), 1fr)); gap: 10px; margin-bottom: 12px; }
.stat { padding: 10px 12px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.stat { min-width: 0; }
.stat .note { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(300px, 100%), 1fr)); gap: 12px; margin-bottom: 12px; }
.federa-chart { margin: 0; padding: 10px 12px; min-width: 0; }
.federa-chart figcaption { font-weight: 600; margin-bottom: 4px; }
.federa-chart-empty { color: var(--muted); padding: 60px 0; text-align: center; margin: 0; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(480px, 100%), 1fr)); gap: 12px; margin-bottom: 12px; }
.wide { margin-bottom: 12px; }
.wide .table-wrap { max-height: 320px; }
.table-wrap { overflow: auto; max-height: 360px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; white-space: nowrap; }
th { position: sticky; top: 0; background: #f1f5f9; font-weight: 600; font-size: 12px; color: #334155; }
td.num, th.num { text-align: right; }
td.bad { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 12px; line-height: 20px; }
.badge.ok, .badge.completed, .badge.connected, .badge.training { background: var(--ok-bg); color: var(--ok); }
.badge.skipped, .badge.waiting, .badge.starting, .badge.running { background: #dbeafe; color: #1e40af; }
.badge.offline, .badge.stopped { background: #f1f5f9; color: var(--muted); }
.badge.revoked, .badge.failed, .badge.rejected { background: var(--bad-bg); color: var(--bad); }
.badge.joined { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.events { list-style: none; margin: 0; padding: 0; max-height: 360px; overflow: auto; }
.events li { display: grid; grid-template-columns: 64px 76px 1fr; gap: 8px; padding: 5px 0; border-bottom: 1px solid var(--line); align-items: baseline; }
.events time { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.events .msg { overflow-wrap: anywhere; }
.events .reason { color: var(--muted); }
.muted { color: var(--muted); }
`;
