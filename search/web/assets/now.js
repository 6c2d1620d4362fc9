// "Now" wall screen: stories ranked by articles in the last hours, refreshed in place.
// ?hours=6 sets the window, ?refresh=10 the seconds between refreshes (1 to 3600).
"use strict";

(() => {
  const {el, api, storyHref, outLink, plural, sparkline, showStatus, ago} = SW;
  const params = new URLSearchParams(location.search);
  const clamp = (v, lo, hi, dflt) => { const n = parseInt(v, 10); return isNaN(n) ? dflt : Math.min(hi, Math.max(lo, n)); };
  const hours = clamp(params.get("hours"), 1, 168, 6);
  const refresh = clamp(params.get("refresh"), 1, 3600, 10);
  let timer = null;

  function trend(entry, since) {
    const delta = entry.recent - entry.previous;
    if (new Date(entry.story.first_seen) >= since) return el("span", {class: "trend new", title: "first seen in this window"}, "new");
    const cls = delta > 0 ? "up" : delta < 0 ? "down" : "flat";
    const arrow = delta > 0 ? "▲" : delta < 0 ? "▼" : "■";
    return el("span", {class: "trend " + cls, title: `${entry.previous} in the ${hours} h before`},
      `${arrow} ${delta > 0 ? "+" : ""}${delta}`);
  }

  function item(entry, rank, now, since) {
    const s = entry.story;
    const top = s.top_articles[0];
    return el("li", {class: "now-item", "data-story": s.id},
      el("span", {class: "rank", "aria-hidden": "true"}, String(rank)),
      el("div", {class: "now-body"},
        el("h2", {}, el("a", {href: storyHref(s.id), class: "story-link", "data-story": s.id}, s.label || "(no label)")),
        el("p", {class: "now-figures"},
          el("strong", {class: "recent"}, `+${entry.recent}`), ` in the last ${hours} h `, trend(entry, since),
          el("span", {class: "byline"}, ` · ${plural(s.size, "article")} · ${plural(s.source_count, "source")}` +
            ` · ${s.languages.join(", ") || "language unknown"} · last seen ${ago(s.last_seen, now)}`)),
        top ? el("p", {class: "now-top"}, outLink(top.url, top.title || "(untitled)", "headline"),
          el("span", {class: "byline"}, ` · ${top.source}`)) : null),
      el("div", {class: "now-chart"}, sparkline(entry.histogram, 200, 48)));
  }

  async function tick() {
    try {
      const data = await api("/api/web/now", {hours, size: 20});
      const list = document.getElementById("now");
      // Keep the keyboard user's place across a refresh.
      const focused = document.activeElement && document.activeElement.dataset
        ? document.activeElement.dataset.story : undefined;
      const now = Date.now();
      const since = new Date(data.since);
      list.replaceChildren(...data.results.map((e, i) => item(e, i + 1, now, since)));
      if (!data.results.length) list.append(el("li", {class: "empty"}, `No new articles in the last ${hours} h.`));
      if (focused) {
        for (const a of list.querySelectorAll("a.story-link")) if (a.dataset.story === focused) a.focus();
      }
      showStatus(`Updated ${new Date(data.until).toISOString().slice(11, 19)} UTC · refreshes every ${plural(refresh, "second")}`);
    } catch (e) {
      showStatus(`${e.message}; trying again in ${plural(refresh, "second")}`, true);
    } finally {
      timer = setTimeout(tick, refresh * 1000);
    }
  }

  document.getElementById("hours").value = String(hours);
  document.getElementById("refresh").value = String(refresh);
  document.getElementById("window").textContent = `· last ${hours} h`;
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer !== null) { clearTimeout(timer); tick(); }
  });
  tick();
})();
