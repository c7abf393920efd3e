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
 * flow), "backoff" (the connection failed, or a follower's read of the history did: the next try
 * is in s.delay ms, doubling from 1 s to 30 s, with jitter), "closed" (after close()).
 * Roles (s.role): "leader" holds the one connection of its tab group and relays what it gets over
 * a BroadcastChannel; "follower" receives the relays and reports the leader's state, or its own
 * "backoff" while it cannot read the history it needs; "alone" when not shared. The leader is
 * elected with Web Locks (a BroadcastChannel heartbeat where Web Locks are missing); when its tab
 * closes, another tab takes over from its own cursor.
 * Any page of the origin can post on that BroadcastChannel. A follower takes a relay only when it
 * is well formed, for its channels, and continues from its own cursor; anything else that is new
 * to it makes it read the server's history from its cursor. With Web Locks, the lock alone says
 * which tab leads.
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
  // Relays a follower keeps while it reads history. Past this many it drops them and reads again,
  // which finds whatever real ones carried: a flood of stray posts costs requests, not memory.
  var MAX_HELD = 100;
  var STATES = { connecting: 1, live: 1, backoff: 1 };
  var TRANSPORTS = { sse: 1, longpoll: 1, iframe: 1 };

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

  // A message id as the server writes it: a whole number that every JSON reader holds exactly.
  function whole(n) {
    return typeof n == "number" && n >= 0 && n <= 9007199254740991 && Math.floor(n) === n;
  }

  function unit(data, id, time) {
    return { channel: "", id: +id || 0, time: new Date(time || Date.now()).toISOString(), type: "text/plain", data: data };
  }

  api.subscribe = function (endpoint, channels, o) {
    o = o || {};
    var chans = [].concat(channels || []);
    var want = o.transport || "auto";
    var mode = want != "auto" ? want : root.EventSource ? "sse" : chans.length ? "longpoll" : "iframe";
    var alike = [endpoint, chans.join(","), want].join(" "); // what the tabs of a group share
    var key = "serverpush " + alike; // where a persisted cursor is kept
    var saved = null;
    try {
      saved = o.persist ? root.sessionStorage : null;
    } catch (e) { /* storage refused (sandboxed frame, privacy mode): keep the cursor in memory */ }
    var cursor = (saved && saved.getItem(key)) || o.since || null;
    var last = {}; // the last id delivered, per channel
    var quiet = false; // a missed was reported and nothing has arrived since
    var role = "alone", state, delay, closed = false;
    var stop = null, timer, failures = 0, sseFails = 0, everLive = false;
    // A follower catching up: the relays kept while it reads history (null when it is not
    // reading), how many of them came before the read under way, and whether some were dropped.
    var held = null, before = 0, dropped = false;
    var heard = null; // the leader's last status, which a follower reports when it is not behind
    var behind = false; // a follower whose read of the history failed and waits to try again
    // The tab group's channel. Its messages, by `t`: from the leader, "m" one step of its
    // connection, from cursor `p` to cursor `c` (null before the first), with the messages `ms`
    // after a missed `x` (its channels; null: not said; absent: none), "s" its status, "b" its
    // heartbeat (Web Locks missing), "q" it quits; from a tab that joins, "h" hello.
    // The group's name (its channel's and its lock's) carries the form of these messages, so
    // tabs running an older copy of this file make a group of their own instead of misreading
    // this one's.
    var group = "serverpush/2 " + alike;
    var bc = o.shared !== false && root.BroadcastChannel ? new root.BroadcastChannel(group) : null;
    var locks = root.navigator && root.navigator.locks;
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
    function deliver(m) {
      if (m.channel) {
        if (last[m.channel] >= m.id) return;
        last[m.channel] = m.id;
      }
      quiet = false;
      call(o.onmessage, m);
    }
    // After a missed the channel may start again from id 1 (a new store epoch): forget its ids.
    function missed(chs) {
      (chs || Object.keys(last)).forEach(function (ch) { delete last[ch]; });
      if (!quiet) {
        quiet = true;
        call(o.onmissed, { channels: chs || null });
      }
    }
    function advance(v) {
      if (v.x !== undefined) missed(v.x);
      v.ms.forEach(deliver);
      setCursor(v.c);
    }
    // The leader moves one step along what the server sends, and relays the step with the
    // cursor it starts from: a follower at that cursor can take it as it is.
    function step(ms, c, x) {
      var v = { t: "m", p: cursor, c: c || cursor, ms: ms };
      if (x !== undefined) v.x = x;
      if (ms.length || x !== undefined || v.c !== v.p) post(v);
      advance(v);
    }
    function take(a) {
      step(a.messages, a.cursor, a.missed ? null : undefined);
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
    // The wait before the next try: doubling from 1 s to 30 s, with jitter.
    function pause() {
      var d = Math.min(MAX_DELAY, 1000 * Math.pow(2, failures++));
      return Math.round(d / 2 + Math.random() * d / 2);
    }
    function fail(fallback) {
      halt();
      if (closed || role == "follower") return;
      if (fallback && want == "auto" && mode == "sse" && !everLive && chans.length) {
        mode = "longpoll";
        return connect();
      }
      var d = pause();
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
        if (!cursor) step([], JSON.parse(e.data).cursor);
      });
      es.addEventListener("missed", function (e) {
        up();
        step([], cursor, JSON.parse(e.data).channels || null);
      });
      es.onmessage = function (e) {
        var m;
        up();
        try {
          m = JSON.parse(e.data);
        } catch (x) { /* a unit, not a channel message */ }
        step([m && m.channel ? m : unit(e.data, e.lastEventId)], e.lastEventId);
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
          if (v && v.missed) return step([], cursor, v.channels || null);
          if (v && v.channel) {
            var c = v.cursor;
            delete v.cursor;
            return step([v], c);
          }
          step([unit(v, 0, time)]);
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
      behind = false;
      failures = 0;
      role = "leader";
      connect();
    }

    // A relay as the leader posts it, or null when it is not one for this subscription: a
    // cursor is the server's string, messages have the server's fields and this
    // subscription's channels, in id order within a channel. Messages are copied field by
    // field, so nothing else a page posted reaches onmessage.
    function relay(v) {
      var ms = [], top = Object.create(null), i, m;
      function cursorLike(c) {
        return c === null || typeof c == "string";
      }
      function ours(ch) {
        return typeof ch == "string" && (chans.length ? chans.indexOf(ch) >= 0 : ch === "");
      }
      if (!cursorLike(v.p) || !cursorLike(v.c) || !Array.isArray(v.ms)) return null;
      if (!(v.x === undefined || v.x === null || (Array.isArray(v.x) && v.x.every(ours)))) return null;
      for (i = 0; i < v.ms.length; i++) {
        m = v.ms[i];
        if (!m || !ours(m.channel) || !whole(m.id) || typeof m.time != "string" ||
            typeof m.type != "string" || typeof m.data != "string") return null;
        if (m.channel && top[m.channel] >= m.id) return null;
        top[m.channel] = m.id;
        ms.push({ channel: m.channel, id: m.id, time: m.time, type: m.type, data: m.data });
      }
      return { p: v.p, c: v.c, ms: ms, x: v.x && v.x.slice() };
    }
    // A relay continues this tab's position when it starts at this tab's cursor: both are the
    // server's strings, so an equal one is the step the server would answer from here.
    // Units have no position: they are taken as they come.
    function fits(v) {
      return !chans.length || (cursor != null && v.p === cursor);
    }
    // A relay whose messages were all delivered here, with no missed: this tab is past it.
    function had(v) {
      return v.x === undefined && v.ms.every(function (m) { return last[m.channel] >= m.id; });
    }
    function relayed(v) {
      if (held) {
        if (held.length >= MAX_HELD) {
          held = [];
          before = 0;
          dropped = true;
        }
        held.push(v);
      } else if (fits(v)) {
        advance(v);
      } else if (!had(v)) {
        // A step from elsewhere: a relay this tab missed, or one the server never sent. The
        // server says which: read from our own cursor.
        catchUp();
      }
    }
    function heardStatus(s) {
      if (!s || STATES[s.state] !== 1 || TRANSPORTS[s.transport] !== 1) return;
      if (!(s.delay === undefined || whole(s.delay))) return;
      heard = { state: s.state, transport: s.transport, delay: s.delay };
      if (!behind) report();
    }
    function report() {
      mode = heard.transport;
      status(heard.state, heard.delay);
    }
    function follow() {
      role = "follower";
      failures = 0;
      bc.postMessage({ t: "h" });
      // The leader relays only what is new: read the history from our cursor first (from the
      // server's end now, when there is none), then take the relays that continue from there.
      if (chans.length) catchUp();
    }
    function catchUp() {
      held = [];
      dropped = false;
      read();
    }
    function read() {
      before = held.length;
      stop = get(cursor ? { since: cursor, timeout: 0 } : { timeout: 0 }, function (a) {
        stop = null;
        failures = 0;
        if (behind) {
          behind = false;
          // Back to the leader's state; a follower that has not heard it yet asks again.
          if (heard) report();
          else bc.postMessage({ t: "h" });
        }
        advance({ c: a.cursor, ms: a.messages, x: a.missed ? null : undefined });
        settle(!a.messages.length);
      }, function () {
        stop = null;
        behind = true;
        var d = pause();
        status("backoff", d);
        timer = setTimeout(read, d);
      });
    }
    // After a read: takes the held relays that now continue from the cursor, in order, and
    // passes over those this tab has. A relay that came before the read and still does not
    // continue was covered by it, so it was never the server's: it goes. The follower has caught
    // up when the server had nothing more, or the relays have come to where it is; otherwise,
    // or when relays that came during the read are left or were dropped, it reads again.
    function settle(empty) {
      var caught = empty, keep = [];
      held.forEach(function (v, i) {
        if (fits(v)) {
          caught = true;
          advance(v);
        } else if (had(v)) {
          caught = caught || v.ms.length > 0;
        } else if (i >= before) {
          keep.push(v);
        }
      });
      if (caught && !keep.length && !dropped) {
        held = null;
        return;
      }
      held = keep;
      dropped = false;
      read();
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
        if (!v || typeof v != "object") return;
        if (v.t == "h") {
          if (!locks) post({ t: "b", id: me });
          post({ t: "s", s: now() });
        } else if (v.t == "b" || v.t == "q") {
          // With Web Locks the lock alone says who leads: a tab that holds it never steps down.
          if (locks) return;
          if (v.t == "q") {
            seen = 0;
          } else if (typeof v.id == "number" && v.id >= 0 && v.id < 1) {
            seen = Date.now();
            // Two leaders after a race: the one with the larger number gives way, and reads
            // from its cursor what the other relayed meanwhile.
            if (role == "leader" && v.id < me) {
              halt();
              follow();
            }
          }
        } else if (role == "follower") {
          if (v.t == "s") heardStatus(v.s);
          else if (v.t == "m" && (v = relay(v))) relayed(v);
        }
      };
      if (locks) {
        locks.request(group, { ifAvailable: true }, function (lock) {
          if (lock) return hold();
          follow();
          locks.request(group, hold);
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
