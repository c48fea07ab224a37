// A gallery of test images (ui/charts.py's thumbnails mounts this st.components.v2 component in the page's own
// DOM): even rows, each image with its caption and a "→ journey" button. One element for the whole gallery:
// an image and a button per thumbnail were 48 of Streamlit's elements, which React mounted again every time
// the view opened. A press is the trigger "picked" ({index}), which the page's callback reads once.
// data: {perRow, entries: [{index, caption, src (a data: URL), alt, help}]}.

function figure(entry, send) {
  const item = document.createElement("figure");
  item.setAttribute("role", "listitem");
  const image = document.createElement("img");
  image.src = entry.src;
  image.alt = entry.alt;
  const caption = document.createElement("figcaption");
  caption.textContent = entry.caption;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "→ journey";
  button.title = entry.help;
  button.setAttribute("aria-label", entry.help);
  button.addEventListener("click", () => send("picked", {index: entry.index}));
  item.append(image, caption, button);
  return item;
}

export default function ({data, parentElement, setTriggerValue}) {
  let gallery = parentElement.querySelector(".convlab-gallery");
  if (!gallery) {
    gallery = document.createElement("div");
    gallery.className = "convlab-gallery";
    gallery.setAttribute("role", "list");
    parentElement.append(gallery);
  }
  gallery.send = setTriggerValue;  // the newest render's: a button pressed later reports through it
  const shown = JSON.stringify(data);
  if (gallery.dataset.shown === shown) return;  // a rerun with the same images: nothing to build
  gallery.dataset.shown = shown;
  gallery.style.setProperty("--per-row", data.perRow);
  gallery.replaceChildren(...data.entries.map((entry) => figure(entry, (name, value) => gallery.send(name, value))));
}
