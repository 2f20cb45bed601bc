// ssmlab pages: the CSRF token on every htmx request, live fragments that send what they show,
// dialogs opened by data-open, copy buttons. No inline scripts (the pages' CSP forbids them).
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
    var tag = e.detail.elt && e.detail.elt.getAttribute("data-etag");
    if (tag && e.detail.verb === "get") { e.detail.headers["X-Shown"] = tag; }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var xhr = e.detail.xhr;
    if (xhr && e.detail.elt && xhr.status === 200) {
      var tag = xhr.getResponseHeader("ETag");
      if (tag) { e.detail.elt.setAttribute("data-etag", tag); }
    }
  });
  document.addEventListener("click", function (e) {
    var opener = e.target.closest("[data-open]");
    if (opener) {
      var dlg = document.getElementById(opener.getAttribute("data-open"));
      if (dlg && dlg.showModal) { dlg.showModal(); var f = dlg.querySelector("input, select, textarea, button"); if (f) { f.focus(); } }
      e.preventDefault();
      return;
    }
    var closer = e.target.closest("[data-close]");
    if (closer) {
      var d = closer.closest("dialog");
      if (d) { d.close(); }
      e.preventDefault();
      return;
    }
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy"));
      if (src && navigator.clipboard) {
        navigator.clipboard.writeText(src.value || src.textContent || "").then(function () {
          copy.textContent = "Copied";
        });
      }
      e.preventDefault();
    }
  });
  // A form answered by htmx closes its dialog when the answer carries no error.
  document.addEventListener("htmx:afterSwap", function (e) {
    var d = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("dialog");
    if (d && !d.querySelector(".error")) { d.close(); }
  });
})();
