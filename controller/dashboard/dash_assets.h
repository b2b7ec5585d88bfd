/* The dashboard's pages, scripts and styles, compiled in from controller/dashboard/assets/
 * (embed.cmake writes the table at build time). */
#ifndef DASH_ASSETS_H
#define DASH_ASSETS_H

#include <stddef.h>

struct dash_asset {
	const char *name; /* file name, e.g. "app.js" */
	const unsigned char *data;
	size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct dash_asset dash_assets[];

#endif
