// The chart's entry for st.components.v2 (ui/charts.py registers it as the component's js; Streamlit
// imports it from a blob: URL, so it cannot import its neighbours by a relative path): it imports
// main.js from the address ui/charts.py computes (data.module: ui/assets.py's route under the
// server's base path) and hands it each call. Streamlit calls this again for every new render, on
// the same element; it keeps only the cleanup the last call returns, and may call a cleanup of a
// call that a newer one overtook: main.js's unmount keeps a chart whose element is still on the page.
const modules = new WeakMap();  // element -> the main.js module its chart runs in
const imported = new Map();  // main.js's address -> its module: a render after the first draws at once, no import's wait

export default async function (component) {
  const parent = component.parentElement;
  const address = new URL(component.data.module, window.location.href).href;
  let main = imported.get(address);
  if (!main) {
    main = await import(address);
    imported.set(address, main);
  }
  const before = modules.get(parent);
  if (before && before !== main) {  // the modules changed on the server (a new version): start over
    before.unmount(parent, true);
  }
  modules.set(parent, main);
  main.mount(component);
  return () => setTimeout(() => main.unmount(parent), 0);  // once React has taken the element out, if it has
}
