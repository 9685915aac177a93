// Small behaviours that work without a framework. Every page also works
// with JavaScript off; these only make it nicer.
(function () {
  "use strict";

  // Show or hide the parts of a form named by data-reveal-when="<checkbox id>".
  function syncReveal(checkbox) {
    document.querySelectorAll('[data-reveal-when="' + checkbox.id + '"]').forEach(function (el) {
      el.hidden = !checkbox.checked;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=checkbox][data-reveals]")) {
      syncReveal(event.target);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[type=checkbox][data-reveals]").forEach(syncReveal);
  });
})();
