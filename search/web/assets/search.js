// Search page: the form's state lives in the address (a plain GET form), so every
// filter is a link that can be followed, bookmarked and shared.
"use strict";

(() => {
  const {el, api, href, storyHref, outLink, timeEl, plural, sparkline, showStatus} = SW;
  const PAGE_SIZE = 20;
  const RANGES = {"1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3};
  const FIELDS = ["q", "range", "from", "to", "source", "lang", "min_size", "sort"];

  const params = new URLSearchParams(location.search);
  const get = (name) => (params.get(name) || "").trim();
  const list = (name) => params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);

  // The address's parameters, minus or plus one, as a link target.
  function withParams(changes) {
    const out = {};
    for (const name of FIELDS) out[name] = params.getAll(name);
    return href("/", Object.assign(out, changes));
  }

  function fillForm() {
    document.getElementById("q").value = get("q");
    document.getElementById("from").value = get("from");
    document.getElementById("to").value = get("to");
    document.getElementById("source").value = list("source").join(", ");
    document.getElementById("lang").value = list("lang").join(", ");
    document.getElementById("min_size").value = get("min_size");
    const range = document.getElementById("range");
    if (get("range") in RANGES) range.value = get("range");
    const sort = document.getElementById("sort");
    if (["relevance", "recency", "growth"].includes(get("sort"))) sort.value = get("sort");
  }

  function query() {
    const q = {q: get("q"), source: list("source"), lang: list("lang"), sort: get("sort") || "relevance",
      size: PAGE_SIZE, page: Math.max(1, parseInt(get("page"), 10) || 1)};
    const minSize = parseInt(get("min_size"), 10);
    if (minSize > 0) q.min_size = minSize;
    if (get("range") in RANGES) q.from = new Date(Date.now() - RANGES[get("range")]).toISOString();
    if (/^\d{4}-\d{2}-\d{2}$/.test(get("from"))) q.from = get("from") + "T00:00:00Z";
    if (/^\d{4}-\d{2}-\d{2}$/.test(get("to"))) q.to = get("to") + "T23:59:59Z";
    return q;
  }

  function activeFilters() {
    const box = document.getElementById("active-filters");
    const chips = [];
    for (const s of list("source")) {
      chips.push(["source", s, {source: list("source").filter((x) => x !== s)}]);
    }
    for (const l of list("lang")) chips.push(["language", l, {lang: list("lang").filter((x) => x !== l)}]);
    for (const name of ["range", "from", "to", "min_size"]) {
      if (get(name)) chips.push([name.replace("_", " "), get(name), {[name]: []}]);
    }
    box.replaceChildren(...chips.map(([kind, value, change]) =>
      el("a", {class: "chip removable", href: withParams(Object.assign({page: []}, change)),
        "aria-label": `Remove filter ${kind} ${value}`}, `${kind}: ${value}`, el("span", {"aria-hidden": "true"}, " ×"))));
  }

  function card(story) {
    const meta = el("dl", {class: "meta"},
      el("div", {}, el("dt", {}, "Size"), el("dd", {}, plural(story.size, "article"))),
      el("div", {}, el("dt", {}, "Sources"), el("dd", {}, String(story.source_count))),
      el("div", {}, el("dt", {}, "Languages"), el("dd", {}, story.languages.length
        ? story.languages.map((l) => el("a", {href: withParams({lang: [l], page: []}), class: "chip"}, l)) : "unknown")),
      el("div", {}, el("dt", {}, "First seen"), el("dd", {}, timeEl(story.first_seen, "", "auto"))),
      el("div", {}, el("dt", {}, "Last seen"), el("dd", {}, timeEl(story.last_seen, "", "auto"))),
      story.score !== null && story.score !== undefined
        ? el("div", {}, el("dt", {}, "Relevance"), el("dd", {}, `${Math.round(story.score * 100)}%`)) : null);
    const headlines = el("ol", {class: "headlines"}, story.top_articles.slice(0, 3).map((a) =>
      el("li", {}, outLink(a.url, a.title || "(untitled)", "headline"), " ",
        el("span", {class: "byline"}, el("a", {href: withParams({source: [a.source], page: []}), class: "source"}, a.source),
          " · ", timeEl(a.published, "", "auto")))));
    // Near-duplicate stories of the same event, shown inside this one rather than as hits of their own.
    const siblings = story.siblings && story.siblings.length ? el("p", {class: "siblings"}, "Also told as: ",
      ...story.siblings.flatMap((sib, i) => [i ? ", " : "",
        el("a", {href: storyHref(sib.id), class: "story-link"}, sib.label || "(no label)"),
        ` (${plural(sib.size, "article")}${sib.languages.length ? ", " + sib.languages.join(", ") : ""})`])) : null;
    const status = story.status !== "active" ? el("span", {class: "badge " + story.status}, story.status) : null;
    return el("article", {class: "card", "data-story": story.id},
      el("div", {class: "card-head"},
        el("h2", {}, el("a", {href: storyHref(story.id), class: "story-link"}, story.label || "(no label)"), status),
        el("div", {class: "spark-slot", "data-story": story.id})),
      story.headline && story.headline !== story.label ? el("p", {class: "headline-full"}, story.headline) : null,
      story.keywords.length ? el("p", {class: "keywords"},
        story.keywords.map((k) => el("a", {href: href("/", {q: k}), class: "chip keyword"}, k))) : null,
      meta, headlines, siblings);
  }

  function pager(page, total) {
    const box = document.getElementById("pager");
    const last = Math.max(1, Math.ceil(Math.min(total, 1000) / PAGE_SIZE));
    const links = [];
    if (page > 1) links.push(el("a", {href: withParams({page: page - 1}), rel: "prev"}, "← Previous"));
    if (last > 1) links.push(el("span", {}, `Page ${page} of ${last}`));
    if (page < last) links.push(el("a", {href: withParams({page: page + 1}), rel: "next"}, "Next →"));
    box.replaceChildren(...links);
  }

  async function sparklines(stories) {
    if (!stories.length) return;
    try {
      const data = await api("/api/web/timelines", {id: stories.map((s) => s.id)});
      for (const t of data.results) {
        for (const slot of document.querySelectorAll(".spark-slot")) {
          if (slot.dataset.story === t.story_id) slot.replaceChildren(sparkline(t.histogram));
        }
      }
    } catch (e) {
      // The results are there; a missing chart is not worth an error banner.
    }
  }

  async function run() {
    fillForm();
    activeFilters();
    const q = query();
    showStatus("Searching…");
    try {
      const page = await api("/api/stories", q);
      const results = document.getElementById("results");
      results.replaceChildren(...page.results.map(card));
      const what = q.q ? ` for “${q.q}”` : "";
      showStatus(page.total ? `${plural(page.total, "story", "stories")}${what}` : `No stories${what}.`);
      pager(page.page, page.total);
      sparklines(page.results);
    } catch (e) {
      showStatus(e.message, true);
    }
  }

  run();
})();
