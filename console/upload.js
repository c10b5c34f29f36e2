// The Upload page's script: asks the console for a presigned POST, then posts the file straight to the input
// bucket, showing its progress, and links to the file once S3 has it. Served as /assets/upload.js.
const form = document.getElementById('upload-form');
const alertBox = document.getElementById('upload-alert');
const status = document.getElementById('upload-status');
const progress = document.getElementById('upload-progress');

function say(text, link) {
  status.querySelector('p')?.remove();
  const p = document.createElement('p');
  p.textContent = text;
  if (link) {
    const a = document.createElement('a');
    a.href = link.href;
    a.textContent = link.text;
    p.append(' ', a);
  }
  status.append(p);
}

function refuse(text) {
  alertBox.textContent = text;
  alertBox.hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  alertBox.hidden = true;
  const file = form.elements.file.files[0];
  const ask = new URLSearchParams();
  for (const [name, value] of new FormData(form)) if (typeof value === 'string') ask.append(name, value);
  ask.set('name', file.name);
  ask.set('size', String(file.size));
  ask.set('type', file.type);
  const res = await fetch('/upload', { method: 'POST', body: ask });
  const answer = await res.json().catch(() => ({ refused: `The console answered ${res.status}.` }));
  if (!res.ok) return refuse(answer.refused ?? `The console answered ${res.status}.`);

  const body = new FormData();
  for (const [name, value] of Object.entries(answer.fields)) body.append(name, value);
  body.append('file', file); // S3 reads the fields before the file, which must come last
  const xhr = new XMLHttpRequest();
  progress.hidden = false;
  progress.previousElementSibling.hidden = false;
  progress.value = 0;
  form.querySelector('button').disabled = true;
  say(`Uploading ${answer.key}…`);
  xhr.upload.addEventListener('progress', (e) => {
    if (e.lengthComputable) {
      progress.max = e.total;
      progress.value = e.loaded;
    }
  });
  xhr.addEventListener('loadend', () => {
    form.querySelector('button').disabled = false;
    if (xhr.status === 201 || xhr.status === 204) {
      progress.value = progress.max;
      say(`Uploaded ${answer.key} (${answer.job}).`, {
        href: `/upload/file?key=${encodeURIComponent(answer.key)}`,
        text: 'Open its page',
      });
    } else {
      const message = xhr.responseXML?.querySelector('Message')?.textContent;
      say('');
      refuse(
        xhr.status === 0
          ? 'The bucket could not be reached (network, or its CORS rules refuse this console).'
          : `The bucket refused the upload (${xhr.status}${message ? `: ${message}` : ''}).`,
      );
    }
  });
  xhr.open('POST', answer.url);
  xhr.send(body);
});
