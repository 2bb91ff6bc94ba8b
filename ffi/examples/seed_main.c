/*
 * The seed's main process, in C: Electron's ipc example.
 *
 *   ipc.on('asynchronous-message', (event, arg) => { print(arg); event.sender.send('asynchronous-reply', 'pong') })
 *   ipc.on('synchronous-message',  (event, arg) => { print(arg); event.returnValue = 'pong' })
 *
 * Usage: seed_main PATH-TO-seed_renderer. Prints "ping" twice; the renderer
 * prints "pong" twice.
 */
#include "ringipc.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void print_arg(const uint8_t *arg, size_t len) {
    printf("%.*s\n", (int)len, (const char *)arg);
    fflush(stdout); /* the renderer shares this stdout: keep the order */
}

static void on_async(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)user_data;
    print_arg(arg, len); /* prints "ping" */
    const ringipc_web_contents *sender = ringipc_main_event_sender(event);
    if (ringipc_web_contents_send(sender, "asynchronous-reply", (const uint8_t *)"pong", 4) != RINGIPC_STATUS_OK)
        fprintf(stderr, "seed_main: reply failed: %s\n", ringipc_last_error());
}

static void on_sync(ringipc_main_event *event, const uint8_t *arg, size_t len, void *user_data) {
    (void)user_data;
    print_arg(arg, len); /* prints "ping" */
    ringipc_main_event_set_return_value(event, (const uint8_t *)"pong", 4);
}

static int fail(const char *what) {
    fprintf(stderr, "seed_main: %s: %s\n", what, ringipc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH-TO-seed_renderer\n", argv[0]);
        return 2;
    }
    ringipc_main *ipc = NULL;
    if (ringipc_main_new(NULL, &ipc) != RINGIPC_STATUS_OK)
        return fail("ringipc_main_new");
    if (ringipc_main_on(ipc, "asynchronous-message", on_async, NULL, NULL, NULL) != RINGIPC_STATUS_OK)
        return fail("ringipc_main_on");
    if (ringipc_main_on(ipc, "synchronous-message", on_sync, NULL, NULL, NULL) != RINGIPC_STATUS_OK)
        return fail("ringipc_main_on");

    ringipc_web_contents *renderer = NULL;
    int32_t pid = 0;
    if (ringipc_main_spawn(ipc, argv[1], NULL, 0, &renderer, &pid) != RINGIPC_STATUS_OK)
        return fail("ringipc_main_spawn");
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("seed_main: waitpid");
        return 1;
    }
    ringipc_web_contents_free(renderer);
    ringipc_main_free(ipc);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
