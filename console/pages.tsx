/**
 * The console's pages, rendered on the server. Live parts refresh themselves with htmx (`hx-trigger="every
 * 2s"`) and stop once the file is over; everything works without JavaScript but the refresh.
 */
import type { Child } from 'hono/jsx';
import { formatCount } from '../contract/reports';
import { formatBytes } from '../contract/workflow';
import { JOB_NAMES } from '../contract/jobs';
import { FILE_STATUSES, type FileFilters, type FileRow } from './files';
import type { FileView } from './file';

const REFRESH = 'every 2s';

export function Layout(props: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · file pipeline</title>
        <link rel="stylesheet" href="/assets/console.css" />
        <script src="/assets/htmx.min.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to the content
        </a>
        <header>
          <nav aria-label="Console">
            <a href="/files">Files</a>
            <a href="/upload">Upload</a>
            <a href="/dead-letters">Dead letters</a>
          </nav>
        </header>
        <main id="main">
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

const seconds = (s: number) =>
  s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;

function Chunks(props: { done?: number; total?: number; failed?: number }) {
  if (!props.total) return <span>–</span>;
  return (
    <span>
      {formatCount(props.done ?? 0)} / {formatCount(props.total)}
      {props.failed ? ` (${formatCount(props.failed)} failed)` : ''}
    </span>
  );
}

/** The list's rows, fetched again every 2 s: new files appear, running ones move on. */
export function FileRows(props: { rows: FileRow[]; refreshUrl: string }) {
  return (
    <tbody id="file-rows" hx-get={props.refreshUrl} hx-trigger={REFRESH} hx-swap="outerHTML">
      {props.rows.length === 0 ? (
        <tr>
          <td colspan={9}>No file matches.</td>
        </tr>
      ) : (
        props.rows.map((r) => (
          <tr>
            <td>
              <a href={`/file?id=${encodeURIComponent(r.workflowId)}`}>{r.key ?? r.workflowId}</a>
            </td>
            <td>{r.size === undefined ? '–' : formatBytes(r.size)}</td>
            <td>{r.route ?? '–'}</td>
            <td>{r.job ?? '–'}</td>
            <td>{r.stage ?? '–'}</td>
            <td>
              <Chunks done={r.chunksDone} total={r.chunksTotal} failed={r.chunksFailed} />
            </td>
            <td>
              <span class={`status status-${r.status.toLowerCase()}`}>{r.status}</span>
            </td>
            <td>{r.backend ?? '–'}</td>
            <td>{seconds(r.seconds)}</td>
          </tr>
        ))
      )}
    </tbody>
  );
}

function Select(props: {
  name: string;
  label: string;
  value: string | undefined;
  choices: readonly string[];
}) {
  return (
    <label>
      {props.label}
      <select name={props.name}>
        <option value="">any</option>
        {props.choices.map((c) => (
          <option value={c} selected={c === props.value}>
            {c}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The file list: its filters, how many files match, a page of rows and the link to the next page. */
export function FilesPage(props: {
  filters: FileFilters;
  rows: FileRow[];
  /** How many files match the filters, on every page: counted when the page loaded, not refreshed. */
  total?: number;
  refreshUrl: string;
  nextUrl?: string;
  error?: string;
}) {
  const f = props.filters;
  return (
    <Layout title="Files">
      <form method="get" action="/files" class="filters" aria-label="Filter the files">
        <Select name="status" label="Status" value={f.status} choices={FILE_STATUSES} />
        <Select name="route" label="Route" value={f.route} choices={['batch', 'ecs', 'inline']} />
        <Select name="job" label="Job" value={f.job} choices={JOB_NAMES} />
        <label>
          Key prefix
          <input name="prefix" value={f.prefix ?? ''} placeholder="incoming/2026/" />
        </label>
        <label>
          Started on
          <input type="date" name="date" value={f.date ?? ''} />
        </label>
        <button type="submit">Filter</button>
      </form>
      {props.error ? (
        <p role="alert" class="error">
          {props.error}
        </p>
      ) : null}
      {props.total === undefined ? null : (
        <p class="total">
          {formatCount(props.total)} {props.total === 1 ? 'file' : 'files'}
        </p>
      )}
      <table>
        <caption>Newest first; the list refreshes itself every 2 seconds.</caption>
        <thead>
          <tr>
            <th scope="col">Object</th>
            <th scope="col">Size</th>
            <th scope="col">Route</th>
            <th scope="col">Job</th>
            <th scope="col">Stage</th>
            <th scope="col">Chunks</th>
            <th scope="col">Status</th>
            <th scope="col">Backend</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <FileRows rows={props.rows} refreshUrl={props.refreshUrl} />
      </table>
      {props.nextUrl ? (
        <p>
          <a href={props.nextUrl}>Next page</a>
        </p>
      ) : null}
    </Layout>
  );
}

function Facts(props: { pairs: [string, Child][] }) {
  return (
    <dl class="facts">
      {props.pairs.map(([term, value]) => (
        <>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </>
      ))}
    </dl>
  );
}

/** The part of a file's page that follows a running file. */
export function FileState(props: { view: FileView; refreshUrl: string }) {
  const { view } = props;
  const p = view.progress;
  const live = view.status === 'Running';
  const chunks = p?.chunks;
  const report = view.report;
  return (
    <section
      id="file-state"
      aria-live="polite"
      {...(live ? { 'hx-get': props.refreshUrl, 'hx-trigger': REFRESH, 'hx-swap': 'outerHTML' } : {})}
    >
      <Facts
        pairs={[
          ['Status', <span class={`status status-${view.status.toLowerCase()}`}>{view.status}</span>],
          ['Stage', p?.stage ?? '–'],
          ['Job', p?.job ?? '–'],
          ['Route', p?.route ?? '–'],
          ['Backend', p?.backend ?? '–'],
        ]}
      />
      {chunks ? (
        <p>
          <label for="chunk-progress">
            Chunks: {formatCount(chunks.done + chunks.reused)} of {formatCount(chunks.total)} done
            {chunks.failed ? `, ${formatCount(chunks.failed)} failed` : ''}
          </label>
          <progress id="chunk-progress" max={chunks.total} value={chunks.done + chunks.reused}></progress>
        </p>
      ) : null}
      {report?.rows ? (
        <>
          <h2>Rows</h2>
          <Facts
            pairs={[
              ['In', formatCount(report.rows.in)],
              ['Out', formatCount(report.rows.out)],
              ['Rejected', formatCount(report.rows.rejected)],
            ]}
          />
          {report.rejectsByRule && Object.keys(report.rejectsByRule).length > 0 ? (
            <table>
              <caption>Rejects by rule</caption>
              <thead>
                <tr>
                  <th scope="col">Rule</th>
                  <th scope="col">Rows</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(report.rejectsByRule).map(([rule, n]) => (
                  <tr>
                    <td>{rule}</td>
                    <td>{formatCount(n)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </>
      ) : null}
      {report?.pages ? <p>{formatCount(report.pages)} page(s) of PDF.</p> : null}
      {view.downloads.length > 0 ? (
        <>
          <h2>Downloads</h2>
          <ul class="downloads">
            {view.downloads.map((d) => (
              <li>
                <a href={d.href}>{d.label}</a>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {view.failure ? (
        <div role="alert" class="error">
          <h2>Failed: {view.failure.type}</h2>
          <p>{view.failure.message}</p>
          {view.failure.fix ? <p>Fix: {view.failure.fix}</p> : null}
        </div>
      ) : null}
    </section>
  );
}

export function FilePage(props: { view: FileView; refreshUrl: string }) {
  const { view } = props;
  return (
    <Layout title={view.key ?? view.workflowId}>
      <p class="subtitle">
        {view.bucket ? `s3://${view.bucket}/${view.key ?? ''} · ` : ''}workflow <code>{view.workflowId}</code>
        , run <code>{view.runId}</code>
        {view.temporalUiLink ? (
          <>
            {' · '}
            <a href={view.temporalUiLink}>open in the Temporal UI</a>
          </>
        ) : null}
      </p>
      <FileState view={view} refreshUrl={props.refreshUrl} />
      {view.redrivable ? (
        <form method="post" action="/file/redrive" class="actions">
          <input type="hidden" name="id" value={view.workflowId} />
          <button type="submit">Redrive</button>
          <span>reruns the file with its earlier plan: only the chunks that failed run again</span>
        </form>
      ) : null}
    </Layout>
  );
}

export function ErrorPage(props: { title: string; message: string; back: string }) {
  return (
    <Layout title={props.title}>
      <p role="alert" class="error">
        {props.message}
      </p>
      <p>
        <a href={props.back}>Back</a>
      </p>
    </Layout>
  );
}

export function NotFoundPage(props: { what: string }) {
  return (
    <Layout title="Not found">
      <p>{props.what} does not exist.</p>
      <p>
        <a href="/files">All files</a>
      </p>
    </Layout>
  );
}
