import { compareRows, formatQuantity, formatReduction } from './compare.js';
import type { CompareResult, PathList, SurfaceMetrics } from './types.js';

/**
 * `rampart compare -o html=FILE`: one self-contained HTML file. Inline CSS and inline SVG bar
 * charts, no script, no external asset (a Content-Security-Policy forbids loading any), so it
 * opens offline and can be attached to a release as is. Every chart has a text alternative and
 * the same numbers are in a data table, for screen readers and for copying.
 * Everything that comes from an image (references, paths, user names) is escaped.
 */
export function renderCompareHtml(result: CompareResult, options: { generated?: string } = {}): string {
  const rows = compareRows(result);
  const a = result.a.subject.reference;
  const b = result.b.subject.reference;
  const charts = rows.map((row, index) => {
    const max = Math.max(row.a, row.b, 1);
    const width = 360;
    const bar = (value: number, y: number, cls: string, label: string) => {
      const w = value === 0 ? 0 : Math.max(1, Math.round((value / max) * width));
      return `<rect class="bar ${cls}" x="40" y="${y}" width="${w}" height="18" rx="2"><title>${escapeHtml(label)}: ${escapeHtml(formatQuantity(value, row.unit))}</title></rect><text x="${46 + w}" y="${y + 14}">${escapeHtml(formatQuantity(value, row.unit))}</text>`;
    };
    const id = `chart-${index}`;
    const alt = `${row.metric}: A ${formatQuantity(row.a, row.unit)}, B ${formatQuantity(row.b, row.unit)}, change ${formatReduction(row.reduction)}`;
    return `<figure class="chart" data-metric="${escapeHtml(row.metric)}">
<figcaption id="${id}"><span class="metric">${escapeHtml(row.metric)}</span> <span class="change ${row.reduction > 0 ? 'down' : row.reduction < 0 ? 'up' : ''}">${escapeHtml(formatReduction(row.reduction))}</span></figcaption>
<svg role="img" aria-labelledby="${id} ${id}-desc" viewBox="0 0 500 52" width="500" height="52" xmlns="http://www.w3.org/2000/svg"><desc id="${id}-desc">${escapeHtml(alt)}</desc><text x="0" y="16">A</text>${bar(row.a, 2, 'bar-a', 'A')}<text x="0" y="40">B</text>${bar(row.b, 26, 'bar-b', 'B')}</svg>
</figure>`;
  });
  const table = rows
    .map(
      (r) =>
        `<tr><th scope="row">${escapeHtml(r.metric)}</th><td>${escapeHtml(formatQuantity(r.a, r.unit))}</td><td>${escapeHtml(formatQuantity(r.b, r.unit))}</td><td>${escapeHtml(formatReduction(r.reduction))}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Attack surface: ${escapeHtml(b)} vs ${escapeHtml(a)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.subjects dt{font-weight:600}.subjects dd{margin:0 0 .5rem 0;font-family:ui-monospace,monospace;word-break:break-all}
.headline{display:flex;flex-wrap:wrap;gap:1rem;padding:0;list-style:none}
.headline li{border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;min-width:10rem}
.headline strong{display:block;font-size:1.6rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(30rem,1fr));gap:.5rem 2rem}
figure{margin:0}figcaption{font-weight:600}.change.down{color:#116329}.change.up{color:#a40e26}
svg text{font-size:12px;fill:#1b1f24}.bar-a{fill:#8c959f}.bar-b{fill:#0969da}
table{border-collapse:collapse;margin-top:1rem}th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th[scope=row],thead th:first-child{text-align:left}
details{margin:.3rem 0}code{font-family:ui-monospace,monospace}
</style>
</head>
<body>
<main>
<h1>Attack surface compared</h1>
<dl class="subjects">
<dt>A (baseline)</dt><dd>${escapeHtml(a)}${subjectExtra(result.a)}</dd>
<dt>B</dt><dd>${escapeHtml(b)}${subjectExtra(result.b)}</dd>
</dl>
<h2>Reduction of B against A</h2>
<ul class="headline">
<li><strong>${escapeHtml(String(result.reduction.packages))}%</strong> fewer packages (distribution packages, as dpkg lists them)</li>
<li><strong>${escapeHtml(String(result.reduction.languagePackages))}%</strong> fewer language packages (npm, PyPI, ...)</li>
<li><strong>${escapeHtml(String(result.reduction.executables))}%</strong> fewer executables on PATH</li>
<li><strong>${escapeHtml(String(result.reduction.files))}%</strong> fewer files</li>
<li><strong>${escapeHtml(String(result.reduction.bytes))}%</strong> fewer bytes</li>
${result.reduction.vulnerabilities !== undefined ? `<li><strong>${escapeHtml(String(result.reduction.vulnerabilities))}%</strong> fewer vulnerabilities</li>` : ''}
</ul>
<h2>Metrics</h2>
<div class="charts">
${charts.join('\n')}
</div>
<table>
<caption>Every metric, A and B side by side (change: negative is a reduction)</caption>
<thead><tr><th scope="col">metric</th><th scope="col">A</th><th scope="col">B</th><th scope="col">change</th></tr></thead>
<tbody>
${table}
</tbody>
</table>
<h2>What remains in B</h2>
${pathSection('Shells', result.b.shells)}
${pathSection('Package managers', result.b.packageManagers)}
${pathSection('Interpreters', result.b.interpreters)}
${pathSection('Setuid files', result.b.setuid)}
${pathSection('Setgid files', result.b.setgid)}
${pathSection('World-writable paths', result.b.worldWritable)}
${pathSection('Files with capabilities', result.b.capabilities)}
<p>User: A <code>${escapeHtml(userText(result.a))}</code>, B <code>${escapeHtml(userText(result.b))}</code>.</p>
${options.generated ? `<p><small>Generated ${escapeHtml(options.generated)} by rampart compare.</small></p>` : ''}
</main>
</body>
</html>
`;
}

function subjectExtra(m: SurfaceMetrics): string {
  const parts = [m.subject.digest, m.subject.platform].filter((p): p is string => p !== undefined);
  return parts.length > 0 ? ` <small>(${escapeHtml(parts.join(', '))})</small>` : '';
}

function userText(m: SurfaceMetrics): string {
  return `${m.user.name || '(default)'}${m.user.root ? ' — root' : ''}`;
}

function pathSection(title: string, list: PathList): string {
  if (list.total === 0) return `<p>${escapeHtml(title)}: none.</p>`;
  const more = list.total > list.paths.length ? `<li>… and ${list.total - list.paths.length} more</li>` : '';
  return `<details><summary>${escapeHtml(title)}: ${list.total}</summary><ul>${list.paths.map((p) => `<li><code>${escapeHtml(p)}</code></li>`).join('')}${more}</ul></details>`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}
