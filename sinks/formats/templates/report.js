(function () {
  "use strict";
  var PAGE = 100;
  var table = document.getElementById("inventory");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var text = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var search = document.getElementById("search");
  var info = document.getElementById("page-info");
  var prev = document.getElementById("prev");
  var next = document.getElementById("next");
  var matches = rows;
  var page = 0;
  function show() {
    var pages = Math.max(1, Math.ceil(matches.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    var from = page * PAGE, to = from + PAGE;
    rows.forEach(function (r) { r.hidden = true; });
    matches.slice(from, to).forEach(function (r) { r.hidden = false; });
    info.textContent = matches.length + " of " + rows.length + " assets, page " + (page + 1) + " of " + pages;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    matches = rows.filter(function (r, i) {
      return words.every(function (w) { return text[i].indexOf(w) !== -1; });
    });
    page = 0;
    show();
  }
  var timer = null;
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(filter, 150); });
  prev.addEventListener("click", function () { page -= 1; show(); });
  next.addEventListener("click", function () { page += 1; show(); });
  document.getElementById("controls").hidden = false;
  show();
})();
