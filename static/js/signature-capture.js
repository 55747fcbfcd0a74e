/*
 * Signature capture for the consent form (tablet).
 *
 * Needs signature_pad's UMD build (static/vendor/signature_pad-<version>/signature_pad.umd.min.js)
 * loaded first: it defines the global SignaturePad.
 * Plain ES2017, no modules, no build step.
 *
 * Page contract:
 *   <form id="signature-form" data-msg-empty="…" data-msg-straight-line="…" data-msg-too-small="…">
 *     <div class="signature-box"><canvas id="signature-pad"></canvas></div>
 *     <button type="button" id="signature-clear">…</button>
 *     <input type="hidden" name="signature">           PNG data URL (toDataURL("image/png"))
 *     <input type="hidden" name="strokes">             JSON of pad.toData()
 *     <input type="hidden" name="canvas_width">        canvas size in CSS px
 *     <input type="hidden" name="canvas_height">
 *     <input type="hidden" name="device_pixel_ratio">  window.devicePixelRatio
 *     <p id="signature-error" role="alert" hidden></p>
 *     <button type="submit">…</button>
 *   </form>
 * The canvas must get its display size from CSS (e.g. width: 100%; height: 16rem), without a
 * border of its own: the drawing buffer is sized from it.
 * The data-msg-* attributes, optional, carry the refusal messages in the page's language; a
 * missing or empty one leaves the French default of MESSAGES.
 *
 * Public API: window.optinSignature = {check, pad, MIN_SIZE, STRAIGHT_TOLERANCE, MAX_IGNORED_LINES,
 * MESSAGES}. check(strokesData) is a pure function returning {ok: true} or
 * {ok: false, code, message}; codes: "empty", "straight_line", "too_small". Its messages come
 * from MESSAGES, which the set-up fills once from the form's data-msg-* attributes.
 */
(function () {
  "use strict";

  // All distances are in CSS pixels, the unit of signature_pad's points.
  var MIN_SIZE = 20;            // the ink must span at least this much, across or down
  var STRAIGHT_TOLERANCE = 3;   // a stroke whose points all lie this close to one line is a line
  var MAX_IGNORED_LINES = 2;    // straight strokes (underline, bar) ignored before judging the rest

  // French defaults; the page may give them in its own language (useMessagesOf).
  var MESSAGES = {
    empty: "Le client doit signer dans le cadre avant de valider.",
    straight_line: "Une ligne droite ou un point ne constitue pas une signature.",
    too_small: "La signature est trop petite : signez en grand dans le cadre.",
  };
  // Code → the form's data attribute (dataset name) carrying its message.
  var MESSAGE_ATTRIBUTES = {
    empty: "msgEmpty",                  // data-msg-empty
    straight_line: "msgStraightLine",   // data-msg-straight-line
    too_small: "msgTooSmall",           // data-msg-too-small
  };

  function refuse(code) {
    return { ok: false, code: code, message: MESSAGES[code] };
  }

  function finitePoints(stroke) {
    var points = stroke && Array.isArray(stroke.points) ? stroke.points : [];
    return points.filter(function (p) {
      return p && typeof p.x === "number" && typeof p.y === "number" &&
        isFinite(p.x) && isFinite(p.y);
    });
  }

  // A stroke is straight when every point lies within STRAIGHT_TOLERANCE of the line
  // through its first point and the point farthest from it: a line, a dot, or a line drawn
  // back over itself. signatures/capture.py applies the same rule on the server.
  function isStraight(points) {
    var first = points[0];
    var far = first;
    var farthest = 0;
    points.forEach(function (p) {
      var d = Math.hypot(p.x - first.x, p.y - first.y);
      if (d > farthest) { farthest = d; far = p; }
    });
    if (farthest === 0) {
      return true;
    }
    var dx = far.x - first.x;
    var dy = far.y - first.y;
    return points.every(function (p) {
      var distance = Math.abs(dx * (first.y - p.y) - (first.x - p.x) * dy) / farthest;
      return distance <= STRAIGHT_TOLERANCE;
    });
  }

  /*
   * Judge a signature from signature_pad's toData() (a list of strokes, each with points
   * {x, y, pressure, time} in CSS px). Pure: reads nothing but its argument (and the MESSAGES
   * table, set once at set-up).
   */
  function check(strokesData) {
    var strokes = Array.isArray(strokesData) ? strokesData.map(finitePoints) : [];
    var totalPoints = strokes.reduce(function (n, points) { return n + points.length; }, 0);
    if (totalPoints === 0) {
      return refuse("empty");
    }

    // Taps and two-point flicks carry no shape.
    var drawn = strokes.filter(function (points) { return points.length > 2; });

    var ignored = 0;
    var remaining = drawn.filter(function (points) {
      if (ignored < MAX_IGNORED_LINES && isStraight(points)) {
        ignored += 1;
        return false;
      }
      return true;
    });
    if (remaining.length === 0) {
      return refuse("straight_line");
    }

    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    remaining.forEach(function (points) {
      points.forEach(function (p) {
        if (p.x < minX) minX = p.x;
        if (p.x > maxX) maxX = p.x;
        if (p.y < minY) minY = p.y;
        if (p.y > maxY) maxY = p.y;
      });
    });
    if (Math.max(maxX - minX, maxY - minY) < MIN_SIZE) {
      return refuse("too_small");
    }
    return { ok: true };
  }

  var api = {
    check: check,
    pad: null,
    MIN_SIZE: MIN_SIZE,
    STRAIGHT_TOLERANCE: STRAIGHT_TOLERANCE,
    MAX_IGNORED_LINES: MAX_IGNORED_LINES,
    MESSAGES: MESSAGES,
  };
  window.optinSignature = api;

  // Take the messages the form carries (data-msg-*), keeping the default for any it lacks.
  function useMessagesOf(form) {
    Object.keys(MESSAGE_ATTRIBUTES).forEach(function (code) {
      var message = form.dataset ? form.dataset[MESSAGE_ATTRIBUTES[code]] : "";
      if (typeof message === "string" && message.trim() !== "") {
        MESSAGES[code] = message;
      }
    });
  }

  function hiddenInput(form, name) {
    var input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    return input;
  }

  function setUp() {
    var form = document.getElementById("signature-form");
    var canvas = document.getElementById("signature-pad");
    if (form) {
      useMessagesOf(form);
    }
    if (!form || !canvas || typeof window.SignaturePad !== "function") {
      return;
    }
    var clearButton = document.getElementById("signature-clear");
    var errorBox = document.getElementById("signature-error");

    var pad = new window.SignaturePad(canvas, { penColor: "#000" });
    api.pad = pad;

    var submitting = false;
    var drawnSize = { width: 0, height: 0, ratio: 0 };

    // Size the drawing buffer for the screen's pixel density, keeping what is drawn.
    function resizeCanvas() {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var width = canvas.offsetWidth;
      var height = canvas.offsetHeight;
      if (width === 0 || height === 0) {
        return; // not laid out (hidden): keep the current buffer
      }
      if (width === drawnSize.width && height === drawnSize.height && ratio === drawnSize.ratio) {
        return; // e.g. a mobile address bar showing or hiding: nothing to redo
      }
      var data = pad.toData().slice();
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear(); // otherwise isEmpty() could be wrong
      if (data.length) {
        pad.fromData(data);
      }
      drawnSize = { width: width, height: height, ratio: ratio };
    }

    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(resizeCanvas, 100);
    });
    resizeCanvas();

    function hideError() {
      if (errorBox) {
        errorBox.hidden = true;
        errorBox.textContent = "";
      }
    }

    function showError(message) {
      if (!errorBox) {
        window.alert(message);
        return;
      }
      errorBox.textContent = message;
      errorBox.hidden = false;
      if (!errorBox.hasAttribute("tabindex")) {
        errorBox.setAttribute("tabindex", "-1");
      }
      errorBox.focus();
    }

    function warnBeforeLeaving(event) {
      if (!submitting && !pad.isEmpty()) {
        event.preventDefault();
        event.returnValue = ""; // older browsers need it set
        return "";
      }
      return undefined;
    }
    window.addEventListener("beforeunload", warnBeforeLeaving);

    if (clearButton) {
      clearButton.addEventListener("click", function () {
        pad.clear();
        hideError();
      });
    }

    function submitButtons() {
      return Array.prototype.filter.call(form.elements, function (el) {
        return (el.tagName === "BUTTON" && (el.type || "submit") === "submit") ||
          (el.tagName === "INPUT" && (el.type === "submit" || el.type === "image"));
      });
    }

    form.addEventListener("submit", function (event) {
      if (submitting) {
        event.preventDefault(); // already on its way
        return;
      }
      var data = pad.toData();
      var result = check(data);
      if (!result.ok) {
        event.preventDefault();
        showError(result.message);
        return;
      }
      hideError();
      hiddenInput(form, "signature").value = pad.toDataURL("image/png");
      hiddenInput(form, "strokes").value = JSON.stringify(data);
      hiddenInput(form, "canvas_width").value = String(canvas.offsetWidth);
      hiddenInput(form, "canvas_height").value = String(canvas.offsetHeight);
      hiddenInput(form, "device_pixel_ratio").value = String(window.devicePixelRatio || 1);

      submitting = true;
      window.removeEventListener("beforeunload", warnBeforeLeaving);
      pad.off();
      // Disabled after this turn: a button disabled now would drop its own name/value from
      // the submitted data.
      var buttons = submitButtons();
      setTimeout(function () {
        buttons.forEach(function (button) { button.disabled = true; });
      }, 0);
    });

    // Coming back with the browser's Back button may restore the page as it was left.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && submitting) {
        submitting = false;
        submitButtons().forEach(function (button) { button.disabled = false; });
        pad.on();
        window.addEventListener("beforeunload", warnBeforeLeaving);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
