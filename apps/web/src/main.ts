import { buildBoard, memoryMap, portMap, writeDebugExit, type Row } from './lab.js';

function table(title: string, rows: Row[]): HTMLElement {
  const section = document.createElement('section');
  const h = document.createElement('h2');
  h.textContent = title;
  const t = document.createElement('table');
  const head = t.createTHead().insertRow();
  for (const label of ['range', 'kind', 'name']) {
    const th = document.createElement('th');
    th.textContent = label;
    head.appendChild(th);
  }
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of [row.range, row.kind, row.name]) tr.insertCell().textContent = cell;
  }
  section.append(h, t);
  return section;
}

const board = buildBoard();
const app = document.querySelector<HTMLDivElement>('#app')!;
app.append(table('Physical memory', memoryMap(board)), table('I/O ports', portMap(board)));

const button = document.createElement('button');
button.textContent = 'OUT 0xF4, 0x2A';
const status = document.createElement('span');
status.id = 'status';
button.addEventListener('click', () => {
  status.textContent = `isa-debug-exit status: ${writeDebugExit(board, 0x2a)}`;
});
app.append(button, status);
