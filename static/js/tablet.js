/* Tablet signing: a button puts the page in full screen (browsers allow it only after a
 * touch or a click), and takes it out again. Plain ES2017, no inline script. */
(function () {
  "use strict";
  var button = document.getElementById("fullscreen-toggle");
  if (!button || !document.documentElement.requestFullscreen) {
    if (button) { button.hidden = true; }
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else {
      document.documentElement.requestFullscreen().catch(function () { button.hidden = true; });
    }
  });
  document.addEventListener("fullscreenchange", function () {
    button.textContent = document.fullscreenElement ? button.dataset.exit : button.dataset.enter;
  });
})();
