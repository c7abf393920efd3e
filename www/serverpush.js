/*! serverpush.js: the browser client of serverpush's channels (nph-longpoll). MIT OR Apache-2.0.
 *
 * No build step. Load it as a classic script, which defines the global `serverpush`:
 *   <script src="serverpush.js"></script>
 * or as an ES module: import { subscribe, publish } from "./serverpush.mjs";
 *
 * serverpush.subscribe(endpoint, channels, options) -> { close() }
 *   endpoint  the program's URL, such as "/cgi-bin/nph-longpoll"
 *   channels  a channel name or an array of names
 *   options   (all optional)
 *     onmessage(m)    every message once, in order: {channel, id, time, type, data}
 *     onmissed(info)  retention dropped messages after this client's position before it came
 *                     back ({channels}: their names, or null when the server did not say);
 *                     delivery goes on from the oldest message kept
 *     onstatus(s)     {state, role, transport, delay}, on every change (see below)
 *     transport       "auto" (the default: SSE, falling back to long-poll when SSE cannot work),
 *                     "sse", "longpoll" or "iframe"
 *     since           a cursor to start after ("chat:0": everything retained); default: only
 *                     messages published from now on
 *     token           a bearer token: sent as Authorization where the transport can set headers
 *                     (long-poll), as token= otherwise
 *     shared          true (default): the tabs of this origin that subscribe to the same endpoint,
 *                     channels and transport share one connection; false: this page's own
 *     persist         true: keep the cursor in sessionStorage, so a reload resumes from it
 * serverpush.publish(endpoint, channel, data, { token, contentType }) -> Promise of the stored id
 *   data: a string, or any other value, which is sent as JSON.
 *
 * States (s.state): "connecting" (a request is on its way), "live" (the server answered; messages
 * flow), "backoff" (the connection failed: the next try is in s.delay ms, doubling from 1 s to
 * 30 s, with jitter), "closed" (after close()).
 * Roles (s.role): "leader" holds the one connection of its tab group and relays what it gets over
 * a BroadcastChannel; "follower" receives the relays and reports the leader's state; "alone" when
 * not shared. The leader is elected with Web Locks (a BroadcastChannel heartbeat where Web Locks
 * are missing); when its tab closes, another tab takes over from its own cursor.
 *
 * Cursors are the server's opaque strings, sent back as they came. A message already delivered
 * (same channel and id) is dropped. Programs that push units rather than channel messages
 * (nph-clock) can be read too, with no channels: each unit arrives as {channel: "", data}.
 */
(function (root) {
  "use strict";
  var api = root.serverpush || {};
  var framed = []; // subscriptions on the iframe transport, which receive() serves
  var MAX_DELAY = 30000;
  // An SSE stream that shows nothing for this long is held by something in the path.
  var FIRST_EVENT_MS = 4000;

  // A throwing callback must not stop delivery; its error still reaches the console.
  function call(fn, arg) {
    if (fn) {
      try {
        fn(arg);
      } catch (e) {
        setTimeout(function () { throw e; });
      }
    }
  }

  function url(endpoint, q) {
    var s = [];
    Object.keys(q).forEach(function (k) {
      if (q[k] != null) {
        [].concat(q[k]).forEach(function (v) { s.push(k + "=" + encodeURIComponent(v)); });
      }
    });
    return endpoint + (endpoint.indexOf("?") < 0 ? "?" : "&") + s.join("&");
  }

  function unit(data, id, time) {
    return { channel: "", id: +id || 0, time: new Date(time || Date.now()).toISOString(), type: "text/plain", data: data };
  }

  api.subscribe = function (endpoint, channels, o) {
    o = o || {};
    var chans = [].concat(channels || []);
    var want = o.transport || "auto";
    var mode = want != "auto" ? want : root.EventSource ? "sse" : chans.length ? "longpoll" : "iframe";
    var key = "serverpush " + [endpoint, chans.join(","), want].join(" ");
    var saved = null;
    try {
      saved = o.persist ? root.sessionStorage : null;
    } catch (e) { /* storage refused (sandboxed frame, privacy mode): keep the cursor in memory */ }
    var cursor = (saved && saved.getItem(key)) || o.since || null;
    var last = {}; // the last id delivered, per channel
    var quiet = false; // a missed was reported and nothing has arrived since
    var role = "alone", state, delay, closed = false;
    var stop = null, timer, failures = 0, sseFails = 0, everLive = false;
    var held = null; // relays kept while a follower reads the history it asked for
    // The tab group's channel. Its messages, by `t`: from the leader, "m" a message with the
    // cursor after it (if known), "c" a cursor, "x" a missed, "s" its status, "b" its heartbeat
    // (Web Locks missing), "q" it quits; from a tab that joins, "h" hello.
    var bc = o.shared !== false && root.BroadcastChannel ? new root.BroadcastChannel(key) : null;
    var release, beat, seen = 0, me = Math.random();

    function now() {
      return { state: state, role: role, transport: mode, delay: delay };
    }
    function post(v) {
      if (bc && role == "leader" && !closed) bc.postMessage(v);
    }
    function status(s, d) {
      state = s;
      delay = d;
      post({ t: "s", s: now() });
      call(o.onstatus, now());
    }
    function setCursor(c) {
      if (c) {
        cursor = c;
        try {
          if (saved) saved.setItem(key, c);
        } catch (e) { /* full or refused: the cursor stays in memory */ }
      }
    }
    function deliver(m, c) {
      if (m.channel) {
        if (last[m.channel] >= m.id) return;
        last[m.channel] = m.id;
      }
      quiet = false;
      setCursor(c);
      post({ t: "m", m: m, c: c });
      call(o.onmessage, m);
    }
    // After a missed the channel may start again from id 1 (a new store epoch): forget its ids.
    function missed(chs) {
      (chs || Object.keys(last)).forEach(function (ch) { delete last[ch]; });
      post({ t: "x", ch: chs });
      if (!quiet) {
        quiet = true;
        call(o.onmissed, { channels: chs || null });
      }
    }
    function take(a) {
      if (a.missed) missed(null);
      a.messages.forEach(function (m) { deliver(m); });
      setCursor(a.cursor);
      post({ t: "c", c: a.cursor });
      return a.messages.length;
    }

    // One long-poll request; returns its cancel function.
    function get(q, ok, bad) {
      var x = new XMLHttpRequest();
      q.channel = chans;
      x.open("GET", url(endpoint, q));
      if (o.token) x.setRequestHeader("Authorization", "Bearer " + o.token);
      // Well past the server's default wait (25 s): a poll that outlives it is taken as lost.
      x.timeout = 90000;
      x.onload = function () {
        var a;
        try {
          a = x.status == 200 && JSON.parse(x.responseText);
        } catch (e) { /* not an answer: a failure */ }
        if (a && a.messages) ok(a);
        else bad();
      };
      x.onerror = x.ontimeout = function () { bad(); };
      x.send();
      return function () {
        x.onload = x.onerror = x.ontimeout = null;
        x.abort();
      };
    }

    function halt() {
      clearTimeout(timer);
      if (stop) stop();
      stop = null;
    }
    function connect() {
      if (closed || role == "follower") return;
      status("connecting");
      if (mode == "sse") sse();
      else if (mode == "iframe") frame();
      else poll();
    }
    function live() {
      failures = 0;
      everLive = true;
      if (state != "live") status("live");
    }
    function fail(fallback) {
      halt();
      if (closed || role == "follower") return;
      if (fallback && want == "auto" && mode == "sse" && !everLive && chans.length) {
        mode = "longpoll";
        return connect();
      }
      var d = Math.min(MAX_DELAY, 1000 * Math.pow(2, failures++));
      d = Math.round(d / 2 + Math.random() * d / 2);
      status("backoff", d);
      timer = setTimeout(connect, d);
    }

    function sse() {
      var es = new root.EventSource(url(endpoint, {
        channel: chans, transport: "sse", ready: 1, last_event_id: cursor, token: o.token
      }));
      var first = setTimeout(function () { fail(true); }, FIRST_EVENT_MS);
      function up() {
        clearTimeout(first);
        live();
      }
      es.addEventListener("ready", function (e) {
        up();
        if (!cursor) {
          setCursor(JSON.parse(e.data).cursor);
          post({ t: "c", c: cursor });
        }
      });
      es.addEventListener("missed", function (e) {
        up();
        missed(JSON.parse(e.data).channels);
      });
      es.onmessage = function (e) {
        var m;
        up();
        try {
          m = JSON.parse(e.data);
        } catch (x) { /* a unit, not a channel message */ }
        deliver(m && m.channel ? m : unit(e.data, e.lastEventId), e.lastEventId);
      };
      // EventSource would reconnect by itself, but without backoff and without this cursor.
      es.onerror = function () { fail(++sseFails >= 3); };
      stop = function () {
        clearTimeout(first);
        es.close();
      };
    }

    function poll(wait) {
      // The first poll, and the first after a failure, answers at once: it tells "live" early.
      stop = get(wait ? { since: cursor } : { since: cursor, timeout: 0 }, function (a) {
        live();
        take(a);
        poll(true);
      }, fail);
    }

    function frame() {
      // A forever frame has no start event that carries a cursor: ask for one first.
      if (!cursor && chans.length) {
        stop = get({ timeout: 0 }, function (a) {
          take(a);
          frame();
        }, fail);
        return;
      }
      var f = document.createElement("iframe");
      var n = 0;
      var sub = {
        f: f,
        on: function (v, time) {
          live();
          if (v && v.missed) return missed(v.channels);
          if (v && v.channel) {
            var c = v.cursor;
            delete v.cursor;
            return deliver(v, c);
          }
          deliver(unit(v, 0, time));
        }
      };
      var check = setInterval(function () {
        var ok;
        try {
          ok = f.contentDocument.title == "serverpush";
        } catch (e) { /* an error page of another origin: not started */ }
        if (ok || state == "live") {
          clearInterval(check);
          live();
        } else if (++n * 250 > FIRST_EVENT_MS) {
          fail();
        }
      }, 250);
      f.style.display = "none";
      f.title = "serverpush";
      // The frame's document is complete only when its stream has ended.
      f.onload = function () { fail(); };
      f.src = url(endpoint, {
        channel: chans, transport: "iframe", since: cursor, callback: "serverpush.receive", token: o.token
      });
      framed.push(sub);
      document.body.appendChild(f);
      stop = function () {
        clearInterval(check);
        f.onload = null;
        framed.splice(framed.indexOf(sub), 1);
        if (f.parentNode) f.parentNode.removeChild(f);
      };
    }

    function lead() {
      if (closed) return;
      halt();
      // Relays held during a history read are dropped: the new connection starts from our cursor.
      held = null;
      role = "leader";
      connect();
    }
    function apply(v) {
      if (v.t == "m") deliver(v.m, v.c);
      else if (v.t == "x") missed(v.ch);
      else if (v.t == "c") setCursor(v.c);
      else if (v.t == "s") {
        state = v.s.state;
        mode = v.s.transport;
        delay = v.s.delay;
        call(o.onstatus, now());
      }
    }
    function follow() {
      role = "follower";
      bc.postMessage({ t: "h" });
      if (!cursor || !chans.length) return;
      // The leader relays only what is new: read the history asked for first, holding relays,
      // until it is read to the end or reaches the first relay of every channel relayed.
      held = [];
      (function next() {
        stop = get({ since: cursor, timeout: 0 }, function (a) {
          if (take(a) && !reached()) return next();
          var h = held || [];
          held = null;
          stop = null;
          h.forEach(apply);
        }, function () { timer = setTimeout(next, 2000); });
      })();
    }
    function reached() {
      var first = {};
      held.forEach(function (v) {
        if (v.t == "m" && !(v.m.channel in first)) first[v.m.channel] = v.m.id;
      });
      var chs = Object.keys(first);
      return chs.length > 0 && chs.every(function (c) { return first[c] <= (last[c] || 0) + 1; });
    }
    function hold() {
      if (closed) return;
      lead();
      return new Promise(function (r) { release = r; });
    }

    if (!bc) {
      connect();
    } else {
      bc.onmessage = function (e) {
        var v = e.data;
        if (v.t == "h") {
          post({ t: "b", id: me });
          post({ t: "c", c: cursor });
          post({ t: "s", s: now() });
        } else if (v.t == "b") {
          seen = Date.now();
          // Two leaders after a race: the one with the larger number gives way, and reads
          // from its cursor what the other relayed meanwhile.
          if (role == "leader" && v.id < me) {
            halt();
            follow();
          }
        } else if (v.t == "q") {
          seen = 0;
        } else if (role == "follower") {
          if (held && v.t != "s") held.push(v);
          else apply(v);
        }
      };
      var locks = root.navigator && root.navigator.locks;
      if (locks) {
        locks.request(key, { ifAvailable: true }, function (lock) {
          if (lock) return hold();
          follow();
          locks.request(key, hold);
        });
      } else {
        follow();
        beat = setInterval(function () {
          if (role == "leader") bc.postMessage({ t: "b", id: me });
          else if (Date.now() - seen > 2500) lead();
        }, 1000);
        root.addEventListener("pagehide", function () { post({ t: "q" }); });
      }
    }

    return {
      close: function () {
        if (closed) return;
        post({ t: "q" });
        closed = true;
        halt();
        clearInterval(beat);
        if (release) release();
        if (bc) bc.close();
        role = "alone";
        status("closed");
      }
    };
  };

  api.publish = function (endpoint, channel, data, o) {
    o = o || {};
    var text = typeof data == "string";
    var headers = { "Content-Type": o.contentType || (text ? "text/plain; charset=utf-8" : "application/json") };
    if (o.token) headers.Authorization = "Bearer " + o.token;
    return fetch(url(endpoint, { channel: channel }), {
      method: "POST", headers: headers, body: text ? data : JSON.stringify(data)
    }).then(function (r) {
      return r.text().then(function (body) {
        if (r.status != 201) throw new Error("publish: HTTP " + r.status + ": " + body.trim());
        return JSON.parse(body).id;
      });
    });
  };

  // The forever frame calls window.parent.serverpush.receive(...). With several frames, the
  // caller is the one whose document is running a script now.
  api.receive = function () {
    for (var i = 0; i < framed.length; i++) {
      var d = framed[i].f.contentDocument;
      if (framed.length == 1 || (d && d.currentScript)) return framed[i].on.apply(null, arguments);
    }
  };

  root.serverpush = api;
})(typeof self != "undefined" ? self : this);
