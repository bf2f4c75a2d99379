"""Posts and layers: the feed, an author's posts, the tags given to contacts, the layer."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context, reply
from hushan.api.openapi import errors_for
from hushan.api.paging import ROW_ID, Page, pages
from hushan.api.replies import (
    AuthorPostsReply,
    JsonReply,
    LayerReply,
    PostReply,
    PostsReply,
    TagsReply,
)

# Newest first: a cursor holds the last post sent, and the next page is of older ones.
FeedPage = Annotated[Page[int], Depends(pages("feed", ROW_ID))]
AuthorPage = Annotated[Page[int], Depends(pages("posts", ROW_ID))]
# Checked by the engine (`invalid_tag`), so that a tag is refused with its own code.
TagPath = Annotated[s.Tag, Path()]
TAGS = "/v1/users/{user_id}/contacts/{other}/tags"


def router(ctx: Context) -> APIRouter:
    engine, run = ctx.engine, ctx.pool.run
    Me = Annotated[str, Depends(ctx.guards.me)]
    api = APIRouter(tags=["posts"])

    @api.post(
        "/v1/users/{user_id}/posts",
        status_code=201,
        response_model=PostReply,
        operation_id="posts_create",
    )
    async def create_post(user_id: Me, body: s.CreatePost) -> JsonReply:
        post = await run(
            engine.create_post, user_id, body.body, body.audience, body.hidden_from, body.tag
        )
        return reply(shapes.post_json(post), 201)

    @api.get("/v1/users/{user_id}/feed", response_model=PostsReply, operation_id="posts_feed")
    async def feed(user_id: Me, page: FeedPage) -> JsonReply:
        found = await run(engine.feed, user_id, page.after, page.fetch)
        shown, after = page.cut(found, lambda p: p.id)
        return reply({"posts": [shapes.post_json(p) for p in shown], "next": after})

    @api.get(
        "/v1/users/{user_id}/posts/{author}",
        response_model=AuthorPostsReply,
        operation_id="posts_by_author",
        responses=errors_for(404),
    )
    async def posts_by(user_id: Me, author: s.UserIdPath, page: AuthorPage) -> JsonReply:
        view = await run(engine.posts_by, user_id, author, page.after, page.fetch)
        shown, after = page.cut(view.posts, lambda p: p.id)
        posts = [shapes.post_json(p) for p in shown]
        removed_you_at = shapes.iso(view.removed_you_at)
        return reply({"posts": posts, "removed_you_at": removed_you_at, "next": after})

    @api.get(TAGS, response_model=TagsReply, operation_id="tags_list", responses=errors_for(404))
    async def contact_tags(user_id: Me, other: s.UserIdPath) -> JsonReply:
        return reply({"tags": await run(engine.contact_tags, user_id, other)})

    @api.put(
        TAGS + "/{tag}",
        response_model=TagsReply,
        operation_id="tags_add",
        responses=errors_for(404, 409),
    )
    async def tag_contact(user_id: Me, other: s.UserIdPath, tag: TagPath) -> JsonReply:
        return reply({"tags": await run(engine.tag_contact, user_id, other, tag)})

    @api.delete(
        TAGS + "/{tag}",
        response_model=TagsReply,
        operation_id="tags_remove",
        responses=errors_for(404, 409),
    )
    async def untag_contact(user_id: Me, other: s.UserIdPath, tag: TagPath) -> JsonReply:
        return reply({"tags": await run(engine.tag_contact, user_id, other, tag, on=False)})

    @api.put(
        "/v1/users/{user_id}/contacts/{other}/layer",
        response_model=LayerReply,
        operation_id="layers_set",
        responses=errors_for(404, 409),
    )
    async def set_layer(user_id: Me, other: s.UserIdPath, body: s.SetLayer) -> JsonReply:
        return reply({"layer": (await run(engine.set_layer, user_id, other, body.layer)).value})

    return api
