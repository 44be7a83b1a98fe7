// veilig in the browser. Runs before textual-serve's page script (textual.js), which
// draws the terminal and relays keys over the WebSocket. This script:
// - drops the query string (textual.js would read ?delay and ?ping from it; nothing
//   the dialog needs ever travels in a URL);
// - points the WebSocket at this very host (ws: or wss: as the page);
// - turns the app's file deliveries into downloads in this tab, and opens nothing else;
// - uploads files chosen with "Add a file" (or dropped on the page) into this session.
"use strict";

(function () {
  if (window.location.search || window.location.hash) {
    window.history.replaceState(null, "", window.location.pathname);
  }

  window.open = function (url) {
    let target;
    try {
      target = new URL(String(url), window.location.href);
    } catch (_error) {
      return null;
    }
    if (target.origin === window.location.origin && target.pathname.startsWith("/download/")) {
      const link = document.createElement("a");
      link.href = target.pathname;
      link.download = "";
      link.rel = "noopener";
      document.body.appendChild(link);
      link.click();
      link.remove();
    }
    return null; // links inside messages are not followed from here: copy them
  };

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (_match, key) => String(values[key] ?? ""));
  }

  function sizeText(bytes) {
    // As core.display.human_size: binary units with their IEC names, one decimal below 10.
    const units = ["B", "KiB", "MiB", "GiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    const whole = unit === 0 || value >= 10 || Number.isInteger(value);
    const number = whole ? String(Math.round(value)) : value.toFixed(1);
    const mark = document.documentElement.lang === "nl" ? number.replace(".", ",") : number;
    return `${mark}\u00a0${units[unit]}`;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const body = document.body;
    const terminal = document.getElementById("terminal");
    const status = document.getElementById("status");
    const input = document.getElementById("file-input");
    const words = body.dataset;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    terminal.dataset.sessionWebsocketUrl =
      scheme + "//" + window.location.host + terminal.dataset.sessionWebsocketUrl;

    function say(text, isError) {
      status.textContent = text; // names are text, never markup
      status.classList.toggle("error", Boolean(isError));
    }

    function focusTerminal() {
      const textarea = terminal.querySelector("textarea");
      if (textarea) {
        textarea.focus();
      }
    }

    const queue = [];
    let busy = false;

    function next() {
      if (busy || !queue.length || body.classList.contains("-closed")) {
        return;
      }
      const file = queue.shift();
      if (file.size > Number(words.maxFile)) {
        say(format(words.tTooBig, { name: file.name, size: sizeText(Number(words.maxFile)) }), true);
        next();
        return;
      }
      busy = true;
      const request = new XMLHttpRequest();
      request.open("POST", "/upload");
      request.setRequestHeader("Content-Type", "application/octet-stream");
      request.setRequestHeader("X-Veilig-Files", words.files);
      request.setRequestHeader("X-Veilig-Name", encodeURIComponent(file.name));
      request.upload.addEventListener("progress", (event) => {
        const percent = event.lengthComputable ? Math.floor((100 * event.loaded) / event.total) : 0;
        say(format(words.tUploading, { name: file.name, percent: percent }));
      });
      request.addEventListener("loadend", () => {
        busy = false;
        if (request.status === 201) {
          say(format(words.tUploaded, { name: file.name }));
        } else {
          let reason = "";
          try {
            reason = JSON.parse(request.responseText).error || "";
          } catch (_error) {
            reason = "";
          }
          say(format(words.tFailed, { name: file.name, reason: reason }), true);
        }
        focusTerminal();
        next();
      });
      say(format(words.tUploading, { name: file.name, percent: 0 }));
      request.send(file);
    }

    function add(files) {
      for (const file of files) {
        queue.push(file);
      }
      next();
    }

    // Ctrl+V pastes, as everywhere else in a browser (xterm.js would send a ^V to the
    // dialog instead): the key is kept from xterm.js, the browser pastes, and xterm.js
    // passes the pasted text on as a paste.
    terminal.addEventListener(
      "keydown",
      (event) => {
        if (event.ctrlKey && !event.altKey && !event.metaKey && event.key.toLowerCase() === "v") {
          event.stopPropagation();
        }
      },
      true,
    );

    document.getElementById("add-file").addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      add(Array.from(input.files));
      input.value = "";
    });
    document.addEventListener("dragover", (event) => event.preventDefault());
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        add(Array.from(event.dataTransfer.files));
      }
    });
    document.getElementById("restart").addEventListener("click", () => {
      window.location.reload();
    });
    window.addEventListener("load", () => window.setTimeout(focusTerminal, 0));
  });
})();
