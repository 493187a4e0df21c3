// Tell the admin the browser's timezone: the server shows date/times in it (config/timezones.py).
(function () {
  "use strict";
  var script = document.currentScript;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || !script) {
    return;
  }
  // IANA names (Area/City, Etc/GMT+3) hold no character a cookie value may not.
  document.cookie = "tidings_timezone=" + zone +
    "; path=" + (script.dataset.cookiePath || "/") + "; max-age=31536000; SameSite=Lax";
  if (zone !== script.dataset.activeZone) {
    // This page was drawn before the server knew the timezone; the next one uses it.
    document.addEventListener("DOMContentLoaded", function () {
      var note = document.getElementById("tidings-timezone");
      if (note) {
        note.textContent += " Your browser is in " + zone + ": reload to see times there.";
      }
    });
  }
})();
