// Jeton web UI: small niceties only. Every form works without this file.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons (hidden without JavaScript): copy the value of the element they name.
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      const value = field.value ?? field.textContent;
      let copied = false;
      try {
        await navigator.clipboard.writeText(value);
        copied = true;
      } catch {
        field.select();
        copied = document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = copied ? "Copied" : "Press Ctrl+C";
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }

  // Destructive forms ask first; the answer travels as confirmed=1, so the server does not ask
  // again on a page of its own.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      if (!form.querySelector("input[name=confirmed]")) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "confirmed";
        input.value = "1";
        form.appendChild(input);
      }
    });
  }

  // The key dialog is open in the page without JavaScript; with it, it becomes modal.
  for (const dialog of document.querySelectorAll("dialog[data-modal][open]")) {
    if (typeof dialog.showModal === "function") {
      dialog.close();
      dialog.showModal();
    }
  }

  // Expiry selects: the custom field shows only when "Custom…" is chosen or already filled in.
  for (const select of document.querySelectorAll("select[data-custom]")) {
    const input = document.getElementById(select.dataset.custom);
    const label = input && input.closest("label");
    if (!label) continue;
    const update = () => {
      const show = select.value === "custom" || input.value.trim() !== "";
      label.classList.toggle("is-hidden", !show);
    };
    select.addEventListener("change", () => {
      // A preset replaces whatever was typed (the custom field wins when filled in).
      if (select.value !== "custom") input.value = "";
      update();
      if (select.value === "custom") input.focus();
    });
    update();
  }

  // A selected secret is easier to copy by hand.
  for (const field of document.querySelectorAll(".secret-value")) {
    field.addEventListener("focus", () => field.select());
  }
});
