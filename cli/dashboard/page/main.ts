/// <reference lib="dom" />
import './styles.css';
import type { ConvergencePoint, ErrorBody, JobRow, JobView } from './contract.js';
import { formatAge, formatCount, formatDuration, formatPercent, formatPi, formatRate, formatStandardError, formatUsd } from './format.js';
import { ConvergencePlot } from './plot.js';
import { TaskGrid } from './task-grid.js';

/** How often the jobs list is read while the page is visible. */
const LIST_INTERVAL_MS = 2000;
/** The name of the measure each job-view update records (`performance.getEntriesByName`; read by the browser tests). */
const UPDATE_MEASURE = 'dashboard-update';

const LAYOUT = `
<header class="top">
  <h1>π dashboard</h1>
  <p class="api">API: <span id="api-label"></span></p>
</header>
<main>
  <div class="side">
    <section class="panel" aria-labelledby="submit-heading">
      <h2 id="submit-heading">New job</h2>
      <form id="submit-form" novalidate>
        <div class="field">
          <label for="samples">Samples</label>
          <input id="samples" name="samples" inputmode="numeric" autocomplete="off" value="1e8" aria-describedby="samples-hint">
          <p id="samples-hint" class="hint">e.g. 100000000 or 1e8</p>
        </div>
        <div class="field">
          <label for="tasks">Tasks</label>
          <input id="tasks" name="tasks" inputmode="numeric" autocomplete="off" value="10" aria-describedby="tasks-hint">
          <p id="tasks-hint" class="hint">parallel samplers, 1 to 1,000</p>
        </div>
        <div class="field">
          <label for="seed">Seed <span class="optional">(optional)</span></label>
          <input id="seed" name="seed" inputmode="numeric" autocomplete="off" aria-describedby="seed-hint">
          <p id="seed-hint" class="hint">empty: the API picks one</p>
        </div>
        <button type="submit" id="submit-button">Submit job</button>
        <p id="submit-error" class="error" role="alert" hidden></p>
      </form>
    </section>
    <section class="panel" aria-labelledby="jobs-heading">
      <h2 id="jobs-heading">Jobs</h2>
      <div class="table-wrap">
        <table id="jobs-table">
          <caption class="sr-only">Your jobs, newest first</caption>
          <thead><tr><th scope="col">Job</th><th scope="col">Status</th><th scope="col">Progress</th><th scope="col">π ± standard error</th><th scope="col">Cost</th><th scope="col">Age</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p id="jobs-empty" class="hint">No jobs yet: submit one above.</p>
      <p id="jobs-error" class="error" hidden></p>
    </section>
  </div>
  <section id="job" class="panel job" aria-labelledby="job-heading" hidden>
    <div class="job-head">
      <h2 id="job-heading">Job</h2>
      <button type="button" id="cancel-button" class="danger" hidden>Cancel job</button>
    </div>
    <p class="status-line">Status: <strong id="job-status" class="status" aria-live="polite"></strong></p>
    <p id="cancel-error" class="error" role="alert" hidden></p>
    <div id="job-failure" class="failure" hidden>
      <h3>Why it failed</h3>
      <p id="job-reason"></p>
      <p id="job-failed-tasks"></p>
    </div>
    <dl class="stats">
      <div class="wide"><dt>π</dt><dd id="stat-pi">–</dd></div>
      <div><dt>Standard error</dt><dd id="stat-se">–</dd></div>
      <div><dt>95 % interval</dt><dd id="stat-ci">–</dd></div>
      <div class="wide"><dt>Samples</dt><dd id="stat-samples">–</dd></div>
      <div><dt>Tasks</dt><dd id="stat-tasks">–</dd></div>
      <div><dt>Samples/s</dt><dd id="stat-rate">–</dd></div>
      <div><dt>Elapsed</dt><dd id="stat-elapsed">–</dd></div>
      <div><dt>Expected</dt><dd id="stat-expected">–</dd></div>
      <div><dt>Cost so far</dt><dd id="stat-cost">–</dd></div>
    </dl>
    <p id="stat-cost-detail" class="hint"></p>
    <div class="job-body">
    <div class="tasks-part">
    <h3 id="tasks-heading">Tasks</h3>
    <ul class="legend" aria-label="Legend">
      <li><span class="task waiting" aria-hidden="true"></span>waiting</li>
      <li><span class="task running" style="--p:0.5" aria-hidden="true"></span>running (filled as far as done)</li>
      <li><span class="task done" aria-hidden="true"></span>done</li>
      <li><span class="task running restarted" style="--p:0.5" aria-hidden="true"></span>restarted (stripes)</li>
      <li><span class="task failed" aria-hidden="true"></span>failed (cross)</li>
    </ul>
    <div id="task-grid-slot"></div>
    <p id="task-detail" class="task-detail">Point at a task, or focus the grid and use the arrow keys, to see its numbers.</p>
    </div>
    <div class="plot-part">
    <h3>Convergence</h3>
    <div id="plot" class="plot"></div>
    </div>
    </div>
  </section>
</main>
<div id="announcer" class="sr-only" aria-live="polite"></div>
`;

const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const setText = (element: HTMLElement, text: string) => {
  if (element.textContent !== text) element.textContent = text;
};

document.body.innerHTML = LAYOUT;
setText(byId('api-label'), document.body.dataset.api ?? '');

// ---- the API of the dashboard's server (same origin; every request carries the page's token)

/** The token the server put in the page: sent as a header (a cookie would reach every port of 127.0.0.1). */
const TOKEN = document.body.dataset.token ?? '';

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T | ErrorBody }> {
  const response = await fetch(path, {
    method,
    headers: { 'x-dashboard-token': TOKEN, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: { code: `HTTP${response.status}`, message: text || response.statusText } };
  }
  return { status: response.status, body: parsed as T | ErrorBody };
}

const isError = (body: unknown): body is ErrorBody => typeof body === 'object' && body !== null && 'error' in body;

function announce(text: string): void {
  setText(byId('announcer'), text);
}

// ---- submit form

const form = byId<HTMLFormElement>('submit-form');
const submitError = byId('submit-error');
const FIELDS = ['samples', 'tasks', 'seed'] as const;

/** A count as people write it (1e8, 100,000,000, 100_000_000); anything else goes to the API as typed, for it to explain. */
function countValue(text: string): number | string {
  const cleaned = text.trim().replace(/[_,](?=\d)/g, '');
  return /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(cleaned) ? Number(cleaned) : text;
}

function clearSubmitError(): void {
  submitError.hidden = true;
  submitError.textContent = '';
  for (const name of FIELDS) {
    const input = byId<HTMLInputElement>(name);
    input.removeAttribute('aria-invalid');
    input.setAttribute('aria-describedby', `${name}-hint`);
  }
}

/** Shows the API's message in place, tied to the field it names (or to the form). */
function showSubmitError(message: string): void {
  submitError.textContent = message;
  submitError.hidden = false;
  const field = FIELDS.find((name) => message.includes(`"${name}"`));
  if (field) {
    const input = byId<HTMLInputElement>(field);
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', `${field}-hint submit-error`);
    input.focus();
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearSubmitError();
  const request: Record<string, number | string> = {};
  for (const name of FIELDS) {
    const text = byId<HTMLInputElement>(name).value;
    if (text.trim() !== '') request[name] = countValue(text);
  }
  const button = byId<HTMLButtonElement>('submit-button');
  button.disabled = true;
  try {
    const answer = await api<JobView>('POST', '/api/jobs', request);
    if (isError(answer.body)) return showSubmitError(answer.body.error.message);
    announce(`Job ${answer.body.jobId} submitted`);
    void refreshList();
    location.hash = `#job/${answer.body.jobId}`;
  } catch (error) {
    showSubmitError(`the dashboard could not be reached: ${(error as Error).message}`);
  } finally {
    button.disabled = false;
  }
});

// ---- jobs list

const jobsBody = byId<HTMLTableElement>('jobs-table').tBodies[0]!;
const rows = new Map<string, { row: HTMLTableRowElement; cells: HTMLTableCellElement[]; job: JobRow }>();

function rowCells(job: JobRow, now: number): string[] {
  const estimate = job.estimate ? `${job.estimate.pi.toFixed(5)} ± ${job.estimate.standardError.toPrecision(2)}` : '–';
  return [
    '',
    job.status,
    formatPercent(job.progress),
    estimate,
    job.usd === undefined ? '–' : formatUsd(job.usd),
    formatAge(now - Date.parse(job.createdAt)),
  ];
}

function renderList(jobs: JobRow[]): void {
  const now = Date.now();
  const seen = new Set<string>();
  jobs.forEach((job, index) => {
    seen.add(job.jobId);
    let entry = rows.get(job.jobId);
    if (!entry) {
      const row = document.createElement('tr');
      const cells = Array.from({ length: 6 }, () => document.createElement('td'));
      const link = document.createElement('a');
      link.href = `#job/${job.jobId}`;
      link.textContent = job.jobId.slice(0, 8);
      link.setAttribute('aria-label', `Job ${job.jobId}: ${formatCount(job.samples)} samples in ${job.tasks} tasks`);
      cells[0]!.append(link);
      row.append(...cells);
      row.dataset.job = job.jobId;
      entry = { row, cells, job };
      rows.set(job.jobId, entry);
    }
    entry.job = job;
    entry.row.dataset.status = job.status;
    entry.row.classList.toggle('current', job.jobId === currentJobId);
    rowCells(job, now).forEach((text, i) => i > 0 && setText(entry.cells[i]!, text));
    entry.cells[1]!.className = `status ${job.status.toLowerCase()}`;
    if (jobsBody.children[index] !== entry.row) jobsBody.insertBefore(entry.row, jobsBody.children[index] ?? null);
  });
  for (const [jobId, entry] of rows) {
    if (seen.has(jobId)) continue;
    entry.row.remove();
    rows.delete(jobId);
  }
  byId('jobs-empty').hidden = jobs.length > 0;
}

async function refreshList(): Promise<void> {
  const jobsError = byId('jobs-error');
  try {
    const answer = await api<{ jobs: JobRow[] }>('GET', '/api/jobs');
    if (isError(answer.body)) throw new Error(answer.body.error.message);
    renderList(answer.body.jobs);
    jobsError.hidden = true;
  } catch (error) {
    setText(jobsError, `The jobs list could not be read: ${(error as Error).message}`);
    jobsError.hidden = false;
  }
}

let listTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleList(): void {
  clearTimeout(listTimer);
  // A hidden page reads nothing: every read of a running job is a request it pays for.
  if (document.visibilityState !== 'visible') return;
  listTimer = setTimeout(() => void refreshList().finally(scheduleList), LIST_INTERVAL_MS);
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void refreshList();
  scheduleList();
});

// ---- job view

const jobSection = byId('job');
const grid = new TaskGrid(byId('task-detail'));
byId('task-grid-slot').replaceWith(grid.element);
grid.element.setAttribute('aria-labelledby', 'tasks-heading');
let plot: ConvergencePlot | undefined;
let currentJobId: string | undefined;
let stream: EventSource | undefined;
let lastView: JobView | undefined;

function openJob(jobId: string | undefined): void {
  stream?.close();
  stream = undefined;
  lastView = undefined;
  currentJobId = jobId;
  for (const [id, entry] of rows) entry.row.classList.toggle('current', id === jobId);
  if (!jobId) {
    jobSection.hidden = true;
    return;
  }
  jobSection.hidden = false;
  setText(byId('job-heading'), `Job ${jobId}`);
  setText(byId('job-status'), 'connecting…');
  byId('cancel-error').hidden = true;
  plot ??= new ConvergencePlot(byId('plot'));
  plot.reset([]);
  // EventSource cannot send headers: the token goes in the query.
  const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events?token=${encodeURIComponent(TOKEN)}`);
  stream = source;
  source.addEventListener('history', (event) => plot!.reset((JSON.parse((event as MessageEvent).data) as { points: ConvergencePoint[] }).points));
  source.addEventListener('job', (event) => {
    // An update, measured from reading the event to the last change of the page (for the tests).
    performance.mark(`${UPDATE_MEASURE}-start`);
    const view = JSON.parse((event as MessageEvent).data) as JobView;
    if (view.status !== 'RUNNING') source.close();
    renderJob(view);
    // After the plot's own redraw, which uPlot runs in a microtask queued by renderJob.
    queueMicrotask(() => performance.measure(UPDATE_MEASURE, `${UPDATE_MEASURE}-start`));
  });
  source.addEventListener('failure', (event) => {
    source.close();
    const { error } = JSON.parse((event as MessageEvent).data) as ErrorBody;
    setText(byId('job-status'), `cannot be read: ${error.message}`);
  });
}

/** Redraws the job view for a new view of the job, touching only what changed. */
function renderJob(view: JobView): void {
  const previous = lastView;
  lastView = view;
  const status = byId('job-status');
  // The live region speaks on a change of status only, never on every tick.
  if (previous?.status !== view.status) {
    setText(status, view.status);
    status.className = `status ${view.status.toLowerCase()}`;
    jobSection.dataset.status = view.status;
  }
  byId('cancel-button').hidden = view.status !== 'RUNNING';
  updateStats(view);
  updateFailure(view);
  grid.update(view.taskProgress);
  if (view.estimate) plot?.add([view.done, view.estimate.pi, view.estimate.ci95[0], view.estimate.ci95[1]]);
}

function updateStats(view: JobView): void {
  const end = view.finishedAt ? Date.parse(view.finishedAt) : Date.now();
  const elapsedMs = Math.max(1, end - Date.parse(view.createdAt));
  const rate = (view.done / elapsedMs) * 1000;
  const tasksDone = view.taskProgress.filter((t) => t.done >= t.samples).length;
  const restarted = view.taskProgress.filter((t) => (t.invocations ?? 0) > 1).length;
  setText(byId('stat-pi'), view.estimate ? formatPi(view.estimate.pi) : '–');
  setText(byId('stat-se'), view.estimate ? formatStandardError(view.estimate.standardError) : '–');
  setText(byId('stat-ci'), view.estimate ? `[${view.estimate.ci95[0].toFixed(6)}, ${view.estimate.ci95[1].toFixed(6)}]` : '–');
  setText(byId('stat-samples'), `${formatCount(view.done)} of ${formatCount(view.samples)} (${formatPercent(view.progress)})`);
  setText(byId('stat-tasks'), `${tasksDone} of ${view.tasks} done${restarted ? `, ${restarted} restarted` : ''}${view.failedTasks?.length ? `, ${view.failedTasks.length} failed` : ''}`);
  setText(byId('stat-rate'), view.done > 0 ? formatRate(rate) : '–');
  setText(byId('stat-elapsed'), formatDuration(elapsedMs));
  let expected = '–';
  if (view.status === 'RUNNING' && rate > 0) {
    const remainingMs = ((view.samples - view.done) / rate) * 1000;
    expected = `${formatDuration(remainingMs)} more (${formatDuration(elapsedMs + remainingMs)} in all)`;
  } else if (view.status !== 'RUNNING') {
    expected = 'ended';
  }
  setText(byId('stat-expected'), expected);
  const cost = view.cost;
  setText(byId('stat-cost'), cost ? formatUsd(cost.usd) : '–');
  setText(
    byId('stat-cost-detail'),
    cost
      ? `Lambda ${cost.lambda.gbSeconds.toPrecision(3)} GB-s in ${formatCount(cost.lambda.requests)} invocations · DynamoDB ` +
          `${cost.dynamodb.writeUnits.toFixed(1)} write / ${cost.dynamodb.readUnits.toFixed(1)} read units · ${formatCount(cost.apiRequests)} API requests` +
          ' (each read of this page is one of them)'
      : '',
  );
}

function updateFailure(view: JobView): void {
  const failure = byId('job-failure');
  const show = view.status === 'FAILED' || (view.status === 'CANCELLED' && view.reason !== undefined);
  failure.hidden = !show;
  if (!show) return;
  setText(failure.querySelector('h3')!, view.status === 'FAILED' ? 'Why it failed' : 'Why it ended');
  setText(byId('job-reason'), view.reason ?? '');
  setText(byId('job-failed-tasks'), view.failedTasks?.length ? `Failed tasks: ${view.failedTasks.join(', ')}` : '');
}

byId('cancel-button').addEventListener('click', async () => {
  const jobId = currentJobId;
  if (!jobId) return;
  const button = byId<HTMLButtonElement>('cancel-button');
  const cancelError = byId('cancel-error');
  button.disabled = true;
  cancelError.hidden = true;
  try {
    const answer = await api<JobView>('DELETE', `/api/jobs/${encodeURIComponent(jobId)}`);
    if (isError(answer.body)) {
      setText(cancelError, answer.body.error.message);
      cancelError.hidden = false;
    } else if (jobId === currentJobId) {
      announce(`Job ${jobId} cancelled`);
      renderJob(answer.body);
    }
  } finally {
    button.disabled = false;
  }
});

// ---- routing: #job/ID opens a job

function route(): void {
  const match = /^#job\/([\w-]+)$/.exec(location.hash);
  const jobId = match?.[1];
  if (jobId !== currentJobId) openJob(jobId);
}
window.addEventListener('hashchange', route);
route();
void refreshList().finally(scheduleList);
