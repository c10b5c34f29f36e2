/**
 * The operator's console: a Hono app rendering the files of the pipeline from Temporal visibility and the
 * output bucket. It never receives file bytes. Forms that change anything are checked against cross-site
 * requests (`hono/csrf`: the Origin must be the console's own); every response carries strict security headers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import { countFiles, listFiles, parseFilters, FilterError, type FileFilters } from './files';
import { loadFile, type ConsoleDeps } from './file';
import { ErrorPage, FilePage, FileRows, FilesPage, FileState, NotFoundPage } from './pages';
import { redrive } from '../common/redrive';
import { ExplainedError } from '../contract/failures';
import { uploadOrigin } from './upload';
import { uploadRoutes } from './upload-page';
import { deadLetterRoutes } from './dead-letters-page';

const ASSETS = {
  'htmx.min.js': {
    body: readFileSync(require.resolve('htmx.org/dist/htmx.min.js')),
    type: 'text/javascript; charset=utf-8',
  },
  'console.css': { body: readFileSync(join(__dirname, 'console.css')), type: 'text/css; charset=utf-8' },
  'upload.js': { body: readFileSync(join(__dirname, 'upload.js')), type: 'text/javascript; charset=utf-8' },
} as const;

/** How long `/healthz` waits for Temporal: less than the load balancer's 5 s check timeout. */
const HEALTH_DEADLINE_MS = 3000;

/** The list's URL with `filters` (and a page token). */
function filesUrl(path: string, filters: FileFilters, page?: string): string {
  const query = new URLSearchParams({ ...filters, ...(page ? { page } : {}) }).toString();
  return query ? `${path}?${query}` : path;
}

export function createConsoleApp(deps: ConsoleDeps): Hono {
  const app = new Hono();
  // The upload page posts to the input bucket's endpoint: its origin, found once, is the one other the pages
  // may connect to.
  let bucketOrigin: Promise<string> | undefined;
  let connectOrigin = '';
  app.use(async (_c, next) => {
    if (deps.upload) bucketOrigin ??= uploadOrigin(deps.s3, deps.upload).catch(() => '');
    connectOrigin = (await bucketOrigin) ?? '';
    await next();
  });
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        // Downloads are presigned S3 URLs: links, not fetched by the page.
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'", () => connectOrigin],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  // Behind the load balancer the request arrives as plain HTTP on the task's address: the browser's Origin is
  // the public one.
  app.use(csrf(deps.origin ? { origin: deps.origin } : {}));

  app.get('/', (c) => c.redirect('/files'));
  // The load balancer's target check and the container's: healthy while Temporal answers, within their timeout.
  app.get('/healthz', async (c) => {
    try {
      await deps.client.withDeadline(Date.now() + HEALTH_DEADLINE_MS, () =>
        deps.client.workflowService.getSystemInfo({}),
      );
      return c.text('ok');
    } catch (err) {
      return c.text(`unhealthy: Temporal does not answer: ${(err as Error).message}`, 503);
    }
  });
  app.get('/assets/:name', (c) => {
    const asset = ASSETS[c.req.param('name') as keyof typeof ASSETS];
    if (!asset) return c.notFound();
    return c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'max-age=3600' });
  });

  /** A page of the list; `counted`: with the total of the files that match (the full page shows it). */
  const files = async (query: Record<string, string>, counted = false) => {
    try {
      const filters = parseFilters(query);
      const [page, total] = await Promise.all([
        listFiles(deps.client, filters, query.page),
        counted ? countFiles(deps.client, filters) : undefined,
      ]);
      return { filters, ...page, ...(total === undefined ? {} : { total }) };
    } catch (err) {
      if (!(err instanceof FilterError)) throw err;
      return { filters: {}, rows: [], error: `Not filtered: ${err.message}.` };
    }
  };
  app.get('/files', async (c) => {
    const page = await files(c.req.query(), true);
    return c.html(
      <FilesPage
        filters={page.filters}
        rows={page.rows}
        {...('total' in page ? { total: page.total } : {})}
        refreshUrl={filesUrl('/files/rows', page.filters, c.req.query('page'))}
        {...('next' in page && page.next ? { nextUrl: filesUrl('/files', page.filters, page.next) } : {})}
        {...('error' in page ? { error: page.error } : {})}
      />,
      'error' in page ? 400 : 200,
    );
  });
  app.get('/files/rows', async (c) => {
    const page = await files(c.req.query());
    return c.html(
      <FileRows rows={page.rows} refreshUrl={filesUrl('/files/rows', page.filters, c.req.query('page'))} />,
    );
  });

  app.get('/file', async (c) => {
    const id = c.req.query('id') ?? '';
    const view = await loadFile(deps, id);
    if (!view) return c.html(<NotFoundPage what={`The file workflow ${JSON.stringify(id)}`} />, 404);
    return c.html(<FilePage view={view} refreshUrl={`/file/state?id=${encodeURIComponent(id)}`} />);
  });
  app.post('/file/redrive', async (c) => {
    const { id } = await c.req.parseBody();
    if (typeof id !== 'string') return c.html(<NotFoundPage what="A file without a workflow ID" />, 400);
    const back = `/file?id=${encodeURIComponent(id)}`;
    try {
      await redrive(deps.client, id, 'the console');
    } catch (err) {
      if (!(err instanceof ExplainedError)) throw err;
      return c.html(<ErrorPage title="Not redriven" message={err.message} back={back} />, 409);
    }
    return c.redirect(back, 303);
  });
  app.get('/file/state', async (c) => {
    const id = c.req.query('id') ?? '';
    const view = await loadFile(deps, id);
    if (!view) return c.html(<NotFoundPage what={`The file workflow ${JSON.stringify(id)}`} />, 404);
    return c.html(<FileState view={view} refreshUrl={`/file/state?id=${encodeURIComponent(id)}`} />);
  });

  app.route('/upload', uploadRoutes(deps));
  deadLetterRoutes(app, deps);
  return app;
}
