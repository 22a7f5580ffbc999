/*! public pack: loads the page's data from the REST API, as Mastodon's web UI does */
(function(){"use strict";
var el=document.getElementById("mastodon");if(!el)return;
var props=JSON.parse(el.getAttribute("data-props")||"{}");
(props.api||[]).forEach(function(u){fetch(u,{headers:{Accept:"application/json"}});});
})();
