// The site's only script: copy buttons and tidy search URLs. Everything works without it.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.parentElement.querySelector("code").textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Select and copy";
  }
  button.dataset.copied = button.textContent;
});

// A search URL holds only the filters that were filled in, so a shared link reads as the query.
document.addEventListener("submit", (event) => {
  for (const field of event.target.querySelectorAll("input, select")) {
    if (field.name && !field.value) field.disabled = true;
  }
});
