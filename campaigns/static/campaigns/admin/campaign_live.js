// The campaign page's live parts: poll the admin's progress endpoint and redraw the fragment it
// returns (server-rendered), so figures, funnel and buttons follow the campaign without a reload.
(function () {
  "use strict";

  function follow(container) {
    var url = container.dataset.liveUrl;
    var seconds = parseInt(container.dataset.pollSeconds || "0", 10);
    var loadedStatus = container.dataset.campaignStatus;
    var stale = document.getElementById(container.dataset.staleNotice || "");
    if (!url || !seconds) {
      return;
    }
    function later(delay) {
      window.setTimeout(refresh, delay * 1000);
    }
    function refresh() {
      if (document.hidden) {
        later(seconds);
        return;
      }
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          container.innerHTML = data.html;
          container.dataset.campaignStatus = data.status;
          if (stale && data.status !== loadedStatus) {
            // The form below was drawn for the old state; say so rather than reload it.
            stale.textContent = "The campaign is now " + data.status_label.toLowerCase() +
              ": reload the page to see every field as it is now.";
            stale.hidden = false;
          }
          container.dataset.refreshedAt = String(Date.now());
          seconds = data.poll_seconds || 0;
          if (seconds) {
            later(seconds);
          }
        })
        .catch(function () {
          // A restart or a dropped connection: try again, less often.
          later(Math.max(seconds, 5) * 2);
        });
    }
    later(seconds);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(follow);
  });
})();
