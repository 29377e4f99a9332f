// Copy buttons of the setup card (templates/admin/idp/application/setup_card.html).
// Served from our static files, so the site's CSP (script-src 'self') allows it
// without inline script. Without JavaScript the buttons stay hidden and the
// values are plain selectable text.
"use strict";

(function () {
  const status = document.querySelector(".setup-card .copy-status");

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  async function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Plain http off localhost: the Clipboard API is not offered there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-scratch";
    document.body.appendChild(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (!done) {
      throw new Error("copy refused");
    }
  }

  document.querySelectorAll(".setup-card .copy-button").forEach(function (button) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(source.textContent.trim()).then(
        function () {
          say(button.dataset.label + " copied.");
        },
        function () {
          say("Could not copy: select the text and copy it by hand.");
        },
      );
    });
  });
})();
