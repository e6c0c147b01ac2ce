
/*
 * The provider registry: a provider type is named in configuration
 * ("type=hf_router") and found here at configuration time.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_llm_gateway_module.h"


static ngx_llm_gateway_provider_t  *ngx_llm_gateway_providers[] = {
    &ngx_llm_gateway_hf_provider,
    &ngx_llm_gateway_gemini_provider,
    NULL
};


ngx_llm_gateway_provider_t *
ngx_llm_gateway_provider_find(ngx_str_t *name)
{
    ngx_llm_gateway_provider_t  **p;

    for (p = ngx_llm_gateway_providers; *p; p++) {
        if ((*p)->name.len == name->len
            && ngx_strncmp((*p)->name.data, name->data, name->len) == 0)
        {
            return *p;
        }
    }

    return NULL;
}
