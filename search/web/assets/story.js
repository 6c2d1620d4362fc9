// Story page: the story's header, timeline, every article oldest first, its sources,
// related stories (nearest centroids) and the stories it absorbed.
"use strict";

(() => {
  const {el, api, href, storyHref, outLink, timeEl, plural, timeline, showStatus} = SW;
  const PAGE = 100;
  const id = decodeURIComponent(location.pathname.split("/")[2] || "");
  const base = "/api/stories/" + encodeURIComponent(id);
  let loaded = 0;
  let page = 1;

  const show = (sectionId) => { document.getElementById(sectionId).hidden = false; };
  const sourceLink = (source) => el("a", {href: href("/", {source}), class: "source"}, source);

  function header(story) {
    const status = story.status !== "active" ? el("span", {class: "badge " + story.status}, story.status) : null;
    const merged = story.merged_into
      ? el("p", {class: "note"}, "Merged into ", el("a", {href: storyHref(story.merged_into)}, story.merged_into)) : null;
    return el("header", {class: "story-head"},
      el("h1", {}, story.label || "(no label)", status),
      story.headline && story.headline !== story.label ? el("p", {class: "headline-full"}, story.headline) : null,
      merged,
      story.keywords.length ? el("p", {class: "keywords"},
        story.keywords.map((k) => el("a", {href: href("/", {q: k}), class: "chip keyword"}, k))) : null,
      el("dl", {class: "meta"},
        el("div", {}, el("dt", {}, "Size"), el("dd", {}, plural(story.size, "article"))),
        el("div", {}, el("dt", {}, "Sources"), el("dd", {}, String(story.source_count))),
        el("div", {}, el("dt", {}, "Languages"), el("dd", {}, story.languages.length
          ? story.languages.map((l) => el("a", {href: href("/", {lang: l}), class: "chip"}, l)) : "unknown")),
        el("div", {}, el("dt", {}, "First seen"), el("dd", {}, timeEl(story.first_seen, "", "auto"))),
        el("div", {}, el("dt", {}, "Last seen"), el("dd", {}, timeEl(story.last_seen, "", "auto"))),
        // Growth means something only while the story is live in stream time.
        story.live ? el("div", {title: "seen in the last 24 hours of the stream"}, el("dt", {}, "Growth"),
          el("dd", {}, `${story.growth.toFixed(1)} articles/hour`)) : null));
  }

  function articleItem(a) {
    return el("li", {class: "article", "data-article": a.id},
      el("div", {class: "when"}, timeEl(a.published, "", a.published_precision)),
      el("div", {class: "what"},
        outLink(a.url, a.title || "(untitled)", "headline"),
        el("span", {class: "byline"}, sourceLink(a.source), a.language ? ` · ${a.language}` : ""),
        // Feed text, always as text: the snippet was made plain when indexed and is set with textContent.
        a.snippet ? el("p", {class: "snippet"}, a.snippet) : null));
  }

  function addArticles(articles) {
    document.getElementById("articles").append(...articles.results.map(articleItem));
    loaded += articles.results.length;
    document.getElementById("more").hidden = loaded >= articles.total;
    document.getElementById("articles-h").textContent = `Articles (${articles.total})`;
  }

  async function more() {
    const button = document.getElementById("more");
    button.disabled = true;
    try {
      page += 1;
      addArticles(await api(base + "/articles", {page, size: PAGE}));
    } catch (e) {
      showStatus(e.message, true);
    } finally {
      button.disabled = false;
    }
  }

  function storyItem(story, extra) {
    const langs = story.languages.length ? ` · ${story.languages.join(", ")}` : "";
    return el("li", {},
      el("a", {href: storyHref(story.id), class: "story-link"}, story.label || "(no label)"),
      el("span", {class: "byline"}, `${plural(story.size, "article")}${langs} · last seen `,
        timeEl(story.last_seen, "", "auto"), extra || ""));
  }

  // Related stories, and apart from them those told in other languages than this one's.
  async function related(story) {
    try {
      const data = await api(`/api/web/stories/${encodeURIComponent(id)}/related`, {size: 8});
      const own = new Set(story.languages);
      const other = (r) => r.story.languages.length && own.size && r.story.languages.every((l) => !own.has(l));
      const item = (r) => storyItem(r.story, r.similarity !== null ? ` · similarity ${r.similarity.toFixed(2)}` : " · shares names");
      const same = data.results.filter((r) => !other(r));
      const foreign = data.results.filter(other);
      if (same.length) {
        document.getElementById("related").replaceChildren(...same.map(item));
        show("related-section");
      }
      if (foreign.length) {
        document.getElementById("languages").replaceChildren(...foreign.map(item));
        show("languages-section");
      }
    } catch (e) {
      // Related stories are a nicety; the story itself is shown.
    }
  }

  async function absorbed(story) {
    if (!story.absorbed.length) return;
    try {
      const data = await api(`/api/web/stories/${encodeURIComponent(id)}/absorbed`);
      if (!data.results.length) return;
      document.getElementById("absorbed").replaceChildren(...data.results.map((s) => storyItem(s)));
      show("absorbed-section");
    } catch (e) {
      // as above
    }
  }

  async function run() {
    document.getElementById("more").addEventListener("click", more);
    showStatus("Loading…");
    try {
      const detail = await api(base, {size: PAGE});
      const story = detail.story;
      document.title = `${story.label || "Story"} · Storywire`;
      document.getElementById("story").replaceChildren(header(story));
      show("timeline-section");
      const chart = document.getElementById("timeline");
      chart.replaceChildren(timeline(detail.histogram, detail.interval, chart.clientWidth));
      addArticles(detail.articles);
      show("articles-section");
      document.getElementById("sources").replaceChildren(...detail.sources.map((b) =>
        el("li", {}, sourceLink(b.key), el("span", {class: "count"}, String(b.count)))));
      show("sources-section");
      showStatus("");
      related(story);
      absorbed(story);
    } catch (e) {
      showStatus(e.message, true);
    }
  }

  run();
})();
