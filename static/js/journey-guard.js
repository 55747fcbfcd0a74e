/* R27: closing the tab (or typing another address) while the account opening's form is
 * unsigned asks the browser's confirmation. Links and forms of the back-office are left to
 * the server, which shows its own warning page when they leave the journey.
 * The page opts in with <body data-leave-warning="…">. Plain ES2017, no inline script. */
(function () {
  "use strict";
  var body = document.body;
  if (!body || !body.dataset.leaveWarning) {
    return;
  }
  var internalAt = 0;
  function markInternal() {
    internalAt = Date.now();
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (link && link.origin === window.location.origin) {
      markInternal();
    }
  }, true);
  document.addEventListener("submit", markInternal, true);
  window.addEventListener("beforeunload", function (event) {
    if (Date.now() - internalAt < 2000) {
      return undefined;
    }
    event.preventDefault();
    event.returnValue = body.dataset.leaveWarning;
    return body.dataset.leaveWarning;
  });
})();
