// Appends the server-rendered events of the conversation as they are committed.
// EventSource reconnects by itself and resumes from Last-Event-ID (the trail's seq).
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  if (!chat || !window.EventSource) return;
  const items = document.getElementById("chat-items");
  const status = document.getElementById("chat-status");
  const source = new EventSource(chat.dataset.stream);
  source.addEventListener("item", function (event) {
    items.insertAdjacentHTML("beforeend", event.data);
    const last = items.lastElementChild;
    if (last && last.classList.contains("divider")) status.textContent = "";
    if (last) last.scrollIntoView({block: "end"});
  });
  source.addEventListener("error", function () {
    status.textContent = "reconnecting…";
  });
  source.addEventListener("open", function () {
    if (status.textContent === "reconnecting…") status.textContent = "";
  });
})();
