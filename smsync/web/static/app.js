// The few behaviours the pages have: sortable tables, copy buttons, confirmations.
// No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

function sortTable(th) {
  const table = th.closest("table");
  const index = Array.from(th.parentNode.children).indexOf(th);
  const kind = th.dataset.sort;
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th[aria-sort]").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[index];
    const value = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    return kind === "number" ? parseFloat(value) || 0 : value.toLowerCase();
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  rows.forEach((row) => body.appendChild(row));
}

document.addEventListener("click", (event) => {
  const th = event.target.closest("th[data-sort]");
  if (th) { sortTable(th); return; }
  const copy = event.target.closest("button[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    const text = source ? (source.value !== undefined ? source.value : source.textContent) : "";
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text.trim()).then(() => { copy.textContent = "Copied"; });
    }
  }
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) { event.preventDefault(); }
});
