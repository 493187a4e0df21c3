"""The pagination of every list the API returns."""

from __future__ import annotations

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=2`, and `?page_size=` up to 500 (50 by default)."""

    page_size_query_param = "page_size"
    max_page_size = 500
