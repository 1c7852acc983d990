// Sorting the detail table by a click on a column heading (or, on a narrow screen, the "Sort by"
// choice). It marks the table once it is ready.
(function () {
  var table = document.getElementById("detail");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  var choice = document.getElementById("sort-by");
  function sortBy(index, ascending) {
    var head = heads[index];
    var numeric = head.getAttribute("data-kind") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    if (choice) { choice.value = String(index); }
  }
  function toggle(index) { sortBy(index, heads[index].getAttribute("aria-sort") !== "ascending"); }
  Array.prototype.forEach.call(heads, function (head, index) {
    head.addEventListener("click", function () { toggle(index); });
    head.addEventListener("keydown", function (event) { if (event.key === "Enter") { toggle(index); } });
  });
  if (choice) {
    // Numbers read best largest first; words from A.
    choice.addEventListener("change", function () {
      var index = Number(choice.value);
      sortBy(index, heads[index].getAttribute("data-kind") !== "num");
    });
  }
  table.setAttribute("data-sortable", "ready");
})();
