/**
 * The console's dead-letter pages and their routes: the dead-letter queue's messages with the failure each
 * carries, "Send back" to the source queue, and deleting one message after a confirmation page. Both changes
 * are form posts, checked by the app's CSRF guard; each answers with a redirect to the list saying what it did.
 */
import type { Hono } from 'hono';
import { formatCount } from '../contract/reports';
import {
  deadLetters,
  PEEK_MAX,
  type DeadLetterQueues,
  type DeadLetterRow,
  type DeadLettersView,
} from './dead-letters';
import { Layout } from './pages';

/** The queue's name, the last part of its URL. */
const queueName = (url: string) => url.split('/').pop() ?? url;

function When(props: { at: Date | undefined }) {
  if (!props.at) return <>–</>;
  const iso = props.at.toISOString();
  return <time datetime={iso}>{`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`}</time>;
}

/** What the object cell says: the objects it names, else what the ingress makes of the body. */
function Objects(props: { letter: DeadLetterRow }) {
  const { letter } = props;
  if (letter.objects.length === 0) return <span class="muted">No object: {letter.bodyNote}</span>;
  return <>{letter.objects.map((o, i) => (i === 0 ? o : [<br />, o]))}</>;
}

/** What a redirect after a post says, from its query: fixed sentences, the values escaped by JSX. */
function Notice(props: { query: Record<string, string> }) {
  const q = props.query;
  let text: string | undefined;
  let alert = false;
  if (q.sent !== undefined) {
    text =
      `Sent back ${formatCount(Number(q.sent))} message(s) to the queue by receive-send-delete ` +
      '(this endpoint has no SQS message move task)' +
      (Number(q.left) > 0
        ? `; ${formatCount(Number(q.left))} that reached the dead-letter queue meanwhile were left here.`
        : '.');
  } else if (q.task !== undefined) {
    text = `SQS's message move task ${q.task} started: it moves the messages to the queue; its status is below.`;
  } else if (q.deleted !== undefined) {
    text = `Deleted message ${q.deleted}.`;
  } else if (q.missing !== undefined) {
    alert = true;
    text =
      `Message ${q.missing} was not deleted: it is not in the dead-letter queue now. Either it is gone already ` +
      '(sent back or deleted), or someone else holds it (received, in flight) until its visibility timeout ' +
      'ends: try again then.';
  }
  if (!text) return null;
  return alert ? (
    <p role="alert" class="error">
      {text}
    </p>
  ) : (
    <p role="status" class="notice">
      {text}
    </p>
  );
}

function MoveTask(props: { moveTask: DeadLettersView['moveTask'] }) {
  const t = props.moveTask;
  if (!t?.supported) {
    return (
      <p>
        This endpoint has no SQS message move task: the console moves the messages itself, each deleted here
        only once it is in the queue.
      </p>
    );
  }
  if (!t.latest) return <p>SQS's message move task moves them; none has run on this queue yet.</p>;
  const l = t.latest;
  return (
    <p>
      SQS's message move task moves them. Latest task: <strong>{l.status}</strong>, {formatCount(l.moved)}
      {l.toMove !== undefined ? ` of ${formatCount(l.toMove)}` : ''} moved, started <When at={l.started} />
      {l.failureReason ? ` — ${l.failureReason}` : ''}.
    </p>
  );
}

export function DeadLettersPage(props: {
  view: DeadLettersView;
  queues: DeadLetterQueues;
  query: Record<string, string>;
}) {
  const { view, queues } = props;
  return (
    <Layout title="Dead letters">
      <Notice query={props.query} />
      <p class="subtitle">
        {queueName(queues.deadLetterQueueUrl)}: {formatCount(view.depth)} message(s) waiting
        {view.inFlight ? `, ${formatCount(view.inFlight)} in flight` : ''}. Their queue:{' '}
        {queueName(queues.queueUrl)}.
      </p>
      <form method="post" action="/dead-letters/send-back" class="actions">
        <button type="submit">Send back to {queueName(queues.queueUrl)}</button>
      </form>
      <MoveTask moveTask={view.moveTask} />
      <table>
        <caption>
          The first {PEEK_MAX} messages at most, oldest first. Each look receives them, so it counts among
          their receives.
        </caption>
        <thead>
          <tr>
            <th scope="col">Object</th>
            <th scope="col">Failure</th>
            <th scope="col">Reason</th>
            <th scope="col">Receives</th>
            <th scope="col">First received</th>
            <th scope="col">Dead-lettered</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {view.letters.length === 0 ? (
            <tr>
              <td colspan={7}>No dead letter.</td>
            </tr>
          ) : (
            view.letters.map((l) => (
              <tr>
                <th scope="row">
                  <Objects letter={l} />
                </th>
                <td>{l.failureType ?? '–'}</td>
                <td>
                  {l.reason ?? '–'}
                  {l.workflowId ? (
                    <>
                      {' '}
                      (<a href={`/file?id=${encodeURIComponent(l.workflowId)}`}>its file</a>)
                    </>
                  ) : null}
                </td>
                <td>{formatCount(l.receiveCount)}</td>
                <td>
                  <When at={l.firstReceived} />
                </td>
                <td>
                  <When at={l.sent} />
                </td>
                <td>
                  <a
                    href={`/dead-letters/delete?id=${encodeURIComponent(l.messageId)}`}
                    aria-label={`Delete message ${l.messageId}`}
                  >
                    Delete…
                  </a>
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </Layout>
  );
}

/** The confirmation step of a delete: what the message is, and the form that deletes it for good. */
export function ConfirmDeletePage(props: { messageId: string; letter: DeadLetterRow | undefined }) {
  const { letter } = props;
  return (
    <Layout title="Delete a dead letter?">
      <p>
        Message <code>{props.messageId}</code> will be deleted from the dead-letter queue for good: it cannot
        be sent back afterwards.
      </p>
      {letter ? (
        <dl class="facts">
          <dt>Object</dt>
          <dd>
            <Objects letter={letter} />
          </dd>
          <dt>Failure</dt>
          <dd>{letter.failureType ?? '–'}</dd>
          <dt>Reason</dt>
          <dd>{letter.reason ?? '–'}</dd>
        </dl>
      ) : (
        <p>It is not among the messages peeked just now; deleting will look for it once more.</p>
      )}
      <form method="post" action="/dead-letters/delete" class="actions">
        <input type="hidden" name="id" value={props.messageId} />
        <button type="submit" class="danger">
          Delete for good
        </button>{' '}
        <a href="/dead-letters">Cancel</a>
      </form>
    </Layout>
  );
}

/** The dead-letter routes of the console app (its CSRF guard checks the posts). */
export function deadLetterRoutes(app: Hono, queues: DeadLetterQueues): void {
  const dlq = deadLetters(queues);
  app.get('/dead-letters', async (c) =>
    c.html(<DeadLettersPage view={await dlq.view()} queues={queues} query={c.req.query()} />),
  );
  app.post('/dead-letters/send-back', async (c) => {
    const out = await dlq.sendBack();
    const query: Record<string, string> =
      out.method === 'move-task'
        ? { task: out.taskHandle }
        : { sent: String(out.moved), left: String(out.left) };
    return c.redirect(`/dead-letters?${new URLSearchParams(query).toString()}`, 303);
  });
  app.get('/dead-letters/delete', async (c) => {
    const id = c.req.query('id') ?? '';
    if (!id) return c.redirect('/dead-letters', 303);
    const letter = (await dlq.view()).letters.find((l) => l.messageId === id);
    return c.html(<ConfirmDeletePage messageId={id} letter={letter} />);
  });
  app.post('/dead-letters/delete', async (c) => {
    const id = (await c.req.parseBody()).id;
    if (typeof id !== 'string' || !id) return c.text('no message id', 400);
    const deleted = await dlq.remove(id);
    return c.redirect(
      `/dead-letters?${new URLSearchParams({ [deleted ? 'deleted' : 'missing']: id }).toString()}`,
      303,
    );
  });
}
