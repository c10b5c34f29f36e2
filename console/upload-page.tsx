/**
 * The Upload page (`/upload`) and its endpoints: the form, the presigned POST it asks for (`POST /upload`,
 * behind the console's cross-site check), and `/upload/file?key=`, which follows an uploaded object to its
 * file's page once the ingress has started its workflow. The browser side is /assets/upload.js.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { Hono } from 'hono';
import { INPUT_METADATA } from '../contract/layout';
import { JOB_NAMES } from '../contract/jobs';
import { formatBytes } from '../contract/workflow';
import type { ConsoleDeps } from './file';
import { Layout, NotFoundPage } from './pages';
import {
  acceptedExtensions,
  MAX_POST_BYTES,
  planUpload,
  presignUpload,
  PROCESSOR_TYPES,
  UploadRefused,
  uploadedWorkflowId,
  type UploadSettings,
} from './upload';
import { UPLOADS_PREFIX } from '../contract/layout';

function Field(props: { name: string; label: string; hint: string; placeholder?: string; type?: string }) {
  return (
    <label>
      {props.label}
      <input
        name={props.name}
        type={props.type ?? 'text'}
        placeholder={props.placeholder ?? ''}
        aria-describedby={`${props.name}-hint`}
      />
      <small id={`${props.name}-hint`}>{props.hint}</small>
    </label>
  );
}

export function UploadPage(props: { settings: UploadSettings | undefined }) {
  const { settings } = props;
  if (!settings) {
    return (
      <Layout title="Upload">
        <p role="alert" class="error">
          Uploads are off: the console was started without an input bucket (INPUT_BUCKETS).
        </p>
      </Layout>
    );
  }
  const accepted = acceptedExtensions();
  return (
    <Layout title="Upload">
      <script src="/assets/upload.js" defer></script>
      <p class="subtitle">
        Straight from this browser to s3://{settings.bucket}/{UPLOADS_PREFIX}YYYY-MM-DD/NAME (today, UTC; the
        same name on the same day replaces the file), up to {formatBytes(settings.maxBytes ?? MAX_POST_BYTES)}
        . Without a job, the extension chooses one: {accepted.join(', ')}.
      </p>
      <noscript>
        <p class="error">The upload needs JavaScript: the file goes to S3 from the page.</p>
      </noscript>
      <form id="upload-form" class="upload" aria-label="Upload a file">
        <label>
          File
          <input type="file" name="file" required accept={accepted.join(',')} />
        </label>
        <label>
          Processor type
          <select name={INPUT_METADATA.processorType}>
            <option value="">default (inline when small, else ECS)</option>
            {PROCESSOR_TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Job
          <select name={INPUT_METADATA.job}>
            <option value="">by the extension</option>
            {JOB_NAMES.map((job) => (
              <option value={job}>
                {job} ({acceptedExtensions(job).join(', ')})
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Large CSV files (optional)</legend>
          <Field
            name={INPUT_METADATA.chunkSize}
            label="Chunk size"
            placeholder="64MiB"
            hint="bytes, or a number with KiB, MiB or GiB; at least 1 KiB"
          />
          <Field
            name={INPUT_METADATA.toleratedFailureCount}
            label="Tolerated failed chunks"
            type="number"
            hint="a count, 0 to 1000000"
          />
          <Field
            name={INPUT_METADATA.toleratedFailurePercent}
            label="Tolerated failed chunks (%)"
            type="number"
            hint="a percentage, 0 to 100"
          />
        </fieldset>
        <button type="submit">Upload</button>
      </form>
      <p id="upload-alert" role="alert" class="error" hidden></p>
      <div id="upload-status" role="status" aria-live="polite">
        <label for="upload-progress" hidden>
          Uploading
        </label>
        <progress id="upload-progress" max={1} value={0} hidden></progress>
      </div>
    </Layout>
  );
}

/** An uploaded file whose workflow the ingress has not started yet: the page asks again every second. */
function UploadWaiting(props: { objectKey: string }) {
  return (
    <Layout title="Uploaded">
      <p
        role="status"
        hx-get={`/upload/file?key=${encodeURIComponent(props.objectKey)}`}
        hx-trigger="every 1s"
        hx-swap="none"
      >
        {props.objectKey} is in the bucket; waiting for the ingress to start its workflow.
      </p>
      <p>
        <a href={`/files?prefix=${encodeURIComponent(props.objectKey)}`}>It in the file list</a>
      </p>
    </Layout>
  );
}

/** The upload's routes, mounted at `/upload`. */
export function uploadRoutes(deps: ConsoleDeps): Hono {
  const app = new Hono();
  const settings = deps.upload;
  app.get('/', (c) => c.html(<UploadPage settings={settings} />));
  app.post('/', async (c) => {
    if (!settings) return c.json({ refused: 'uploads are off: the console has no input bucket' }, 503);
    const body = await c.req.parseBody();
    const req = Object.fromEntries(
      Object.entries(body).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])),
    );
    try {
      const upload = planUpload(req, settings);
      const post = await presignUpload(deps.s3, settings, upload);
      return c.json({ ...post, key: upload.key, job: upload.job });
    } catch (err) {
      if (err instanceof UploadRefused) return c.json({ refused: `Not uploaded: ${err.message}.` }, 422);
      throw err;
    }
  });
  app.get('/file', async (c) => {
    const key = c.req.query('key') ?? '';
    const id = settings && (await uploadedWorkflowId(deps.s3, settings, key));
    if (!id) return c.html(<NotFoundPage what={`The upload ${JSON.stringify(key)}`} />, 404);
    const started = await deps.client.workflow
      .getHandle(id)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );
    const page = `/file?id=${encodeURIComponent(id)}`;
    if (started)
      return c.req.header('hx-request') ? c.body(null, 200, { 'hx-redirect': page }) : c.redirect(page);
    return c.html(<UploadWaiting objectKey={key} />);
  });
  return app;
}
