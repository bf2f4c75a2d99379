// A login link carries its token in the fragment (never sent to a server, nor kept in logs):
// put it in the sign-in form and send it.
"use strict";
(function () {
  const token = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  history.replaceState(null, "", window.location.pathname); // out of the address bar
  const status = document.getElementById("link-status");
  if (!token) {
    status.textContent = status.dataset.missing;
    return;
  }
  document.getElementById("link-token").value = token;
  document.getElementById("link-form").submit();
})();
