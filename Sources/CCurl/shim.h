#ifndef FLOWCTL_CCURL_SHIM_H
#define FLOWCTL_CCURL_SHIM_H
#include <curl/curl.h>
#endif
