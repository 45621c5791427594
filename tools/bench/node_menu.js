// ussd-menu-builder on Node, the most used USSD library, as the benchmark's reference stack:
// the same three screens as the gateway's workload (welcome, help, back), Redis sessions through
// the library's sessionConfig (one GET at start, one SET per state), 2 processes via node:cluster.
// NODE_SERVER picks how requests reach it: "http" (Node's own http module, no framework: the
// fastest it can be served) or "express" (Express with its urlencoded body parser and
// `app.post(path, …)`, as the library's README serves it). Installed at bench time under the
// bench's temp dir (NODE_PATH); never part of the repository.
"use strict";
const cluster = require("node:cluster");
const http = require("node:http");
const querystring = require("node:querystring");

const PORT = Number(process.env.PORT);
const WORKERS = Number(process.env.NODE_WORKERS || "2");
const SERVER = process.env.NODE_SERVER || "http";

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
} else {
  const UssdMenu = require("ussd-menu-builder");
  const { createClient } = require("redis");
  const redis = createClient({ url: process.env.REDIS_URL });
  redis.connect();
  const WELCOME = "Welcome to eCitizen\n1. Register\n2. Apply for a service\n3. Track application\n" +
    "4. My applications\n5. Pay\n6. Feedback\n7. Help\n8. Language";
  const HELP = "Help\n1. How to register\n2. How to apply\n3. How to pay\n4. Contact us\n0 Back 00 Home";

  function buildMenu() {
    // One menu per request: the library keeps the request's args and result on the instance.
    const menu = new UssdMenu();
    let session = {};
    const key = (id) => "nub:" + id;
    menu.sessionConfig({
      start: (id) => redis.get(key(id)).then((raw) => { session = raw ? JSON.parse(raw) : {}; }),
      set: (id, name, value) => { session[name] = value; return redis.set(key(id), JSON.stringify(session), { EX: 180 }); },
      get: (id, name) => Promise.resolve(session[name]),
      end: (id) => Promise.resolve(),
    });
    menu.startState({ run: () => menu.session.set("node", "start").then(() => menu.con(WELCOME)), next: { "7": "help" } });
    menu.state("help", { run: () => menu.session.set("node", "help").then(() => menu.con(HELP)), next: { "0": "__start__" } });
    return menu;
  }

  if (SERVER === "express") {
    const express = require("express");
    const app = express();
    app.use(express.urlencoded({ extended: true }));
    app.post("/ussd/africastalking", (req, res) => {
      buildMenu().run(req.body, (reply) => { res.send(reply); });
    });
    app.listen(PORT, "127.0.0.1");
  } else {
    http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => { body += chunk; });
      req.on("end", () => {
        const args = querystring.parse(body);
        buildMenu().run(args, (reply) => {
          res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(reply) });
          res.end(reply);
        });
      });
    }).listen(PORT, "127.0.0.1");
  }
}
