/*
 * The seed's renderer process, in C: Electron's ipc example.
 *
 *   print(ipc.sendSync('synchronous-message', 'ping'))   // "pong"
 *   ipc.on('asynchronous-reply', (arg) => print(arg))     // "pong"
 *   ipc.send('asynchronous-message', 'ping')
 *
 * Started by seed_main through ringipc_main_spawn.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_cond_timedwait */
#include "ringipc.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t replied_cond = PTHREAD_COND_INITIALIZER;
static int replied = 0;

/* Runs on the renderer's receiver thread. */
static void on_reply(ringipc_renderer_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)event;
    (void)user_data;
    printf("%.*s\n", (int)len, (const char *)arg); /* prints "pong" */
    fflush(stdout);
    pthread_mutex_lock(&lock);
    replied = 1;
    pthread_cond_signal(&replied_cond);
    pthread_mutex_unlock(&lock);
}

static int fail(const char *what) {
    fprintf(stderr, "seed_renderer: %s: %s\n", what, ringipc_last_error());
    return 1;
}

int main(void) {
    ringipc_renderer *ipc = NULL;
    if (ringipc_renderer_connect(true, &ipc) != RINGIPC_STATUS_OK)
        return fail("ringipc_renderer_connect");

    ringipc_bytes reply = {0};
    if (ringipc_renderer_send_sync(ipc, "synchronous-message", (const uint8_t *)"ping", 4, -1, &reply) != RINGIPC_STATUS_OK)
        return fail("ringipc_renderer_send_sync");
    printf("%.*s\n", (int)reply.len, (const char *)reply.data); /* prints "pong" */
    fflush(stdout);
    ringipc_bytes_free(&reply);

    if (ringipc_renderer_on(ipc, "asynchronous-reply", on_reply, NULL, NULL, NULL) != RINGIPC_STATUS_OK)
        return fail("ringipc_renderer_on");
    if (ringipc_renderer_send(ipc, "asynchronous-message", (const uint8_t *)"ping", 4) != RINGIPC_STATUS_OK)
        return fail("ringipc_renderer_send");

    /* A real renderer has an event loop; this one waits up to 30 s. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    int waited = 0;
    pthread_mutex_lock(&lock);
    while (!replied && waited == 0)
        waited = pthread_cond_timedwait(&replied_cond, &lock, &deadline);
    int got_reply = replied;
    pthread_mutex_unlock(&lock);
    ringipc_renderer_free(ipc);
    if (!got_reply) {
        fprintf(stderr, "seed_renderer: no asynchronous reply within 30 s\n");
        return 1;
    }
    return 0;
}
