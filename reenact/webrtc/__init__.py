"""`reenact serve`: an aiohttp + aiortc server. The browser sends its camera, gets the reenacted video
back, and steers the AU targets over a data channel."""
