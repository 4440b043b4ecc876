// ticketbooth's web page: a small client of the public REST API, no build step, no CDN.
// Pages: /, /tasks/{task}, /search?..., /tickets/{id}, /frontier?..., /transfer?..., /compare?a=&b=, /upload,
// /signup, /account, /owners/{name}, one module each in pages/; ui.js holds what they share, lib.js the
// pure logic (tested by node --test). The header shows who is signed in on every page.

import { accountPage } from "./pages/account.js";
import { compare } from "./pages/compare.js";
import { frontier } from "./pages/frontier.js";
import { home } from "./pages/home.js";
import { owner } from "./pages/owner.js";
import { search } from "./pages/search.js";
import { signup } from "./pages/signup.js";
import { ticket } from "./pages/ticket.js";
import { transfer } from "./pages/transfer.js";
import { upload } from "./pages/upload.js";
import { app, navigate, renderAuth, setRouter, showError } from "./ui.js";

// Links marked data-link stay in the page (history API); others load normally.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route());

async function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  renderAuth();
  try {
    let m;
    if (path === "/") await home();
    else if ((m = path.match(/^\/tasks\/([^/]+)$/))) { params.set("task", decodeURIComponent(m[1])); await search(params, decodeURIComponent(m[1])); }
    else if (path === "/search") await search(params);
    else if ((m = path.match(/^\/tickets\/([^/]+)$/))) await ticket(decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/owners\/([^/]+)\/tickets\/([^/]+)$/))) await ticket(null, m[1], m[2]);
    else if ((m = path.match(/^\/owners\/([^/]+)\/?$/))) await owner(decodeURIComponent(m[1]));
    else if (path === "/frontier") await frontier(params);
    else if (path === "/transfer") await transfer(params);
    else if (path === "/compare") await compare(params);
    else if (path === "/upload") await upload();
    else if (path === "/signup") await signup();
    else if (path === "/account") await accountPage();
    else showError({ status: 404, message: `No page at ${path}` });
  } catch (err) {
    showError(err);
  }
  app.focus({ preventScroll: true });
}

setRouter(route);
route();
