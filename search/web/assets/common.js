// Storywire web page: helpers shared by the three pages.
//
// Feed content is untrusted. Every piece of it reaches the page through text nodes
// (textContent / createTextNode), never through innerHTML, and a feed URL becomes a
// link only when its scheme is http or https.
"use strict";

const SW = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const TOKEN_KEY = "storywire.token";

  // el("a", {href: "/x", class: "c"}, "text", child) -> element; strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The URL if it is an absolute http(s) URL, else null (javascript:, data:, relative...).
  function safeUrl(raw) {
    if (typeof raw !== "string" || raw === "") return null;
    let url;
    try {
      url = new URL(raw);
    } catch (e) {
      return null;
    }
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  }

  // A link to an original article, or plain text when its URL is not safe to follow.
  function outLink(url, text, cls) {
    const href = safeUrl(url);
    if (href === null) return el("span", {class: (cls || "") + " nolink", title: "link withheld: not an http(s) URL"}, text);
    return el("a", {href, class: cls, rel: "noopener noreferrer nofollow", target: "_blank"}, text);
  }

  // A link inside the app: /path plus query parameters (arrays repeat the parameter).
  function href(path, params) {
    const qs = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      for (const v of [].concat(value)) if (v !== "" && v !== null && v !== undefined) qs.append(key, v);
    }
    const s = qs.toString();
    return s ? `${path}?${s}` : path;
  }

  function storyHref(id) {
    return "/stories/" + encodeURIComponent(id);
  }

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  // "2023-05-03 09:00 UTC": the newsroom works in one time zone.
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  }

  // "2023-05-03": a report whose feed gave only a date.
  function fmtDate(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  }

  // A time only as precise as it is known: precision "day" shows the date alone. A story's
  // first/last seen carry no precision of their own; exactly midnight UTC is a date-only report's.
  function timeEl(iso, text, precision) {
    const d = new Date(iso);
    const dayOnly = precision === "day" ||
      (precision === "auto" && !isNaN(d) && d.getUTCHours() + d.getUTCMinutes() + d.getUTCSeconds() === 0);
    return el("time", {datetime: dayOnly ? fmtDate(iso) : iso}, text || (dayOnly ? fmtDate(iso) : fmtTime(iso)));
  }

  function ago(iso, now) {
    const s = Math.max(0, ((now || Date.now()) - new Date(iso).getTime()) / 1000);
    if (s < 90) return "just now";
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many || one + "s"}`;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {}

  async function api(path, params) {
    const headers = {Accept: "application/json"};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(href(path, params), {headers});
    } catch (e) {
      throw new ApiError("the server cannot be reached");
    }
    if (resp.status === 401) {
      askToken();
      throw new ApiError("this server needs an API token");
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) throw new ApiError((body && body.error) || `the server answered ${resp.status}`);
    return body;
  }

  function askToken() {
    if (document.getElementById("token-form")) return;
    const input = el("input", {id: "token", type: "password", autocomplete: "off", required: true});
    const form = el("form", {id: "token-form", class: "token-form"},
      el("label", {for: "token"}, "API token"), input, el("button", {type: "submit"}, "Use token"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      location.reload();
    });
    document.getElementById("main").prepend(form);
    input.focus();
  }

  function showStatus(text, isError) {
    const box = document.getElementById("status");
    box.textContent = text;
    box.classList.toggle("error", Boolean(isError));
  }

  // ---------------------------------------------------------------- charts

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function describe(buckets) {
    const total = buckets.reduce((a, b) => a + b.count, 0);
    if (!buckets.length) return "no articles";
    return `${plural(total, "article")} from ${fmtTime(buckets[0].start)} to ${fmtTime(buckets[buckets.length - 1].start)}`;
  }

  // A small bar chart of article counts; buckets: [{start, count}].
  function sparkline(buckets, width, height) {
    width = width || 160;
    height = height || 36;
    const label = "Articles over time: " + describe(buckets);
    const chart = svg("svg", {class: "spark", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": label, preserveAspectRatio: "none"}, svg("title", {}, label));
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const step = width / Math.max(8, buckets.length);
    const offset = width - step * buckets.length;  // the newest bar at the right edge
    buckets.forEach((b, i) => {
      const h = b.count ? Math.max(2, (b.count / max) * (height - 2)) : 1;
      chart.append(svg("rect", {x: (offset + i * step + step * 0.1).toFixed(2), y: (height - h).toFixed(2),
        width: Math.max(1, step * 0.8).toFixed(2), height: h.toFixed(2), class: b.count ? "bar" : "bar empty"}));
    });
    return chart;
  }

  // The story page's timeline: bars with a count axis and the first and last bucket's dates.
  function timeline(buckets, interval, width) {
    width = Math.round(Math.max(280, Math.min(1200, width || 720)));
    const height = 200, left = 36, bottom = 28, top = 8;
    const innerW = width - left - 8, innerH = height - top - bottom;
    const label = `Articles per ${interval}: ` + describe(buckets);
    const chart = svg("svg", {class: "timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": label}, svg("title", {}, label));
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const step = innerW / Math.max(1, buckets.length);
    const barW = Math.max(1, Math.min(step * 0.8, 60));
    chart.append(svg("line", {x1: left, y1: top + innerH, x2: width - 8, y2: top + innerH, class: "axis"}));
    chart.append(svg("text", {x: left - 6, y: top + 10, class: "tick", "text-anchor": "end"}, max));
    chart.append(svg("text", {x: left - 6, y: top + innerH, class: "tick", "text-anchor": "end"}, 0));
    buckets.forEach((b, i) => {
      const h = b.count ? Math.max(2, (b.count / max) * innerH) : 0;
      const bar = svg("rect", {x: (left + i * step + (step - barW) / 2).toFixed(2), y: (top + innerH - h).toFixed(2),
        width: barW.toFixed(2), height: h.toFixed(2), class: "bar"},
        svg("title", {}, `${fmtTime(b.start)}: ${plural(b.count, "article")}`));
      chart.append(bar);
    });
    if (buckets.length === 1) {
      chart.append(svg("text", {x: left + innerW / 2, y: height - 8, class: "tick", "text-anchor": "middle"},
        fmtTime(buckets[0].start)));
    } else if (buckets.length > 1) {
      chart.append(svg("text", {x: left, y: height - 8, class: "tick"}, fmtTime(buckets[0].start)));
      chart.append(svg("text", {x: width - 8, y: height - 8, class: "tick", "text-anchor": "end"},
        fmtTime(buckets[buckets.length - 1].start)));
    }
    return chart;
  }

  return {el, append, safeUrl, outLink, href, storyHref, fmtTime, fmtDate, timeEl, ago, plural, api, ApiError,
    showStatus, sparkline, timeline};
})();
