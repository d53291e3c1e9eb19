// cloudgate console: the Copy buttons. No inline script anywhere (the CSP forbids it).
"use strict";

// Copies `text`; without a clipboard (an insecure context, a refused permission) selects
// `source` instead, so that Ctrl+C copies it. Returns what to tell the user.
async function copy(text, source) {
  try {
    await navigator.clipboard.writeText(text);
    return "Copied.";
  } catch (e) {
    if (source) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return "Selected: press Ctrl+C to copy.";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // A block's Copy button: data-copy names the element whose text it copies.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = button.parentElement.querySelector(".copied");
      const said = await copy(source.textContent, source);
      if (status) status.textContent = said;
    });
  }
  // A shortened identifier's Copy button: the whole value is in data-copy-value.
  for (const button of document.querySelectorAll("button[data-copy-value]")) {
    button.addEventListener("click", async () => {
      const source = button.parentElement.querySelector("code");
      const said = await copy(button.dataset.copyValue, source);
      button.title = said;
      button.classList.add("done");
      button.textContent = said === "Copied." ? "Copied" : "Selected";
    });
  }
});
