/*! common pack (stand-in for Mastodon's webpack runtime) */
(function(){"use strict";window.__mastodon_common={loaded:Date.now()};})();
